import type { Principal } from "../auth/principal";
import type { GatewayPubSub } from "../bus/pubsub";
import type { Config } from "../config";
import type { Db } from "../db/client";
import type { ImpressionSink } from "../domain/impression";
import type { RankingObserver } from "../domain/observer";
import type { InferenceService } from "../inference/service";
import type { InteractionWriter } from "../ingest/interactions";
import type { Logger } from "../observability/logger";
import type { TextTokenizer } from "../prompt/tokenizer";
import type { PromptPathCaches } from "../ranking/prompts";

/** What the process holds for every request: built once at start-up. */
export interface GatewayServices {
  config: Config;
  db: Db;
  logger: Logger;
  /** Null when no tokenizer is configured (TOKENIZER_PATH / MODEL_DIR unset). */
  tokenizer: TextTokenizer | null;
  /** Shared by every request of this process: tokenized prompt parts and task definitions. */
  caches: Required<PromptPathCaches>;
  /** Null when no sidecar is configured (INFERENCE_ADDRESSES unset). */
  inference: InferenceService | null;
  /** Served rankings, written to PostgreSQL (and Kafka, when configured) behind the answer. */
  impressions: ImpressionSink;
  /** The one path that stores interactions and announces them to live subscribers. */
  interactions: InteractionWriter;
  /** Events between write paths and subscriptions (Redis-backed across replicas when configured). */
  pubSub: GatewayPubSub;
  /** Where rankings and explanations report their latency and outcome (the metrics). */
  observer: RankingObserver;
}

/**
 * What every resolver gets: the process's services and the request's own signal, made for each
 * HTTP request and each WebSocket operation. The signal is aborted when the client goes away (its
 * HTTP request closes before the answer is sent, its socket closes), and cancels the sidecar
 * calls the request started.
 */
export interface GatewayContext extends GatewayServices {
  signal: AbortSignal;
  /** Who is calling (src/auth/principal.ts); the operation was authorized for it before it ran. */
  principal: Principal;
}

export function requestContext(
  services: GatewayServices,
  signal: AbortSignal,
  principal: Principal,
): GatewayContext {
  return { ...services, signal, principal };
}
