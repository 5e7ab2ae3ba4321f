import type { Config } from "../config";
import type { Db } from "../db/client";
import type { InferenceService } from "../inference/service";
import type { Logger } from "../observability/logger";
import type { TextTokenizer } from "../prompt/tokenizer";
import type { ImpressionSink } from "../services/impressions";
import type { PromptPathCaches } from "../services/prompts";
import type { GatewayPubSub } from "./pubsub";

/** What every resolver can reach; built once per process, shared by all requests. */
export interface GatewayContext {
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
  /** Events between write paths and subscriptions (Redis-backed across replicas when configured). */
  pubSub: GatewayPubSub;
  /** Aborted when the client goes away (HTTP request closed); cancels sidecar calls. */
  signal?: AbortSignal;
}
