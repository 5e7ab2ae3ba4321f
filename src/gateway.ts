import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import Redis from "ioredis";
import { createGatewayPubSub, publishInteractions } from "./bus/pubsub";
import type { Config } from "./config";
import { DATABASE, INFERENCE, RATE_LIMIT_REDIS_READY_MS } from "./config/limits";
import { createDb, type Db, pingDb } from "./db/client";
import { startEmbeddedDb } from "./db/embedded";
import { isDatabaseUnavailable } from "./db/errors";
import { insertImpressions } from "./db/impressions";
import { migrate } from "./db/migrate";
import { ensureDefaultTasks } from "./db/tasks";
import type { RankingObserver } from "./domain/observer";
import { JOB_APPLY_TASK } from "./domain/task-definition";
import { startImpressionPublisher } from "./impressions/kafka-publisher";
import { ImpressionLog } from "./impressions/log";
import { InferenceClient } from "./inference/client";
import { prefixBudget, readModelCard } from "./inference/model-card";
import { InferenceService } from "./inference/service";
import { readInferenceTls } from "./inference/tls";
import { type Ingestion, startIngestion } from "./ingest/consumer";
import { type InteractionsListener, InteractionWriter } from "./ingest/interactions";
import { createLogger, type Logger } from "./observability/logger";
import { createMetrics, type Metrics } from "./observability/metrics";
import { startTracing } from "./observability/tracing";
import { PrefixCache } from "./prompt/prefix-cache";
import { TokenCache } from "./prompt/token-cache";
import { TextTokenizer } from "./prompt/tokenizer";
import { TaskCache } from "./ranking/task-cache";
import { createGatewayServer } from "./server/app";
import type { IdeTokens } from "./server/ide";
import { createSchema } from "./server/schema";
import { createSecurity } from "./server/security";
import { Shutdown, type ShutdownReport } from "./util/shutdown";

export interface Gateway {
  url: string;
  /** From the checkpoint's config.json, when MODEL_DIR is set. */
  randomWeights: boolean;
  /** What the served model is, in words, when its config.json says (brewgate_description). */
  modelDescription: string | null;
  db: Db;
  databaseUrl: string;
  logger: Logger;
  metrics: Metrics;
  /** Kafka ingestion, when KAFKA_BROKERS is set. */
  ingestion: Ingestion | null;
  /** Served rankings on their way to PostgreSQL (and Kafka); `flush()` waits for them. */
  impressions: ImpressionLog;
  /**
   * Graceful stop, within SHUTDOWN_TIMEOUT_MS: drain HTTP and WebSockets, finish the ingest batch
   * in hand, write queued impressions, close Kafka clients and the database. What did not stop in
   * time is abandoned, logged, and named in the report; calling it again returns the same report.
   */
  stop(): Promise<ShutdownReport>;
}

export interface GatewayOptions {
  /** Called with each batch of interactions stored, by Kafka ingestion or by the mutation. */
  onInteractionsStored?: InteractionsListener;
  /** Tokens the IDE and the playground send (the local run's development tokens). */
  ideTokens?: IdeTokens;
  /** Also export spans here, one by one (tests: an in-memory exporter); turns tracing on. */
  spanExporter?: SpanExporter;
}

/** Starts every part the configuration asks for, in dependency order. */
export async function startGateway(
  config: Config,
  logger: Logger = createLogger(config.LOG_LEVEL),
  options: GatewayOptions = {},
): Promise<Gateway> {
  const shutdown = new Shutdown();
  const stop = async () => {
    const report = await shutdown.run(config.SHUTDOWN_TIMEOUT_MS);
    for (const { name, err } of report.failed) logger.error({ err, part: name }, "error during shutdown");
    if (report.abandoned.length > 0) {
      logger.error(
        { abandoned: report.abandoned, timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
        "shutdown deadline passed; these parts were abandoned without stopping",
      );
    }
    return report;
  };
  try {
    // First in, last out: spans of the stop itself are still exported.
    const tracing = startTracing(config, options.spanExporter);
    shutdown.add("tracing", () => tracing.shutdown());
    let databaseUrl = config.DATABASE_URL;
    let poolSize: number = DATABASE.poolMax;
    if (!databaseUrl) {
      const embedded = await startEmbeddedDb(config.DATA_DIR, config.EMBEDDED_DB_PORT);
      shutdown.add("embedded database", () => embedded.stop());
      databaseUrl = embedded.url;
      poolSize = DATABASE.embeddedPoolMax;
      logger.info(
        { dir: join(config.DATA_DIR, "pglite") },
        "embedded PGlite database started (DATABASE_URL unset)",
      );
    }
    const migrated = await migrate(databaseUrl);
    if (migrated.applied.length > 0) logger.info({ applied: migrated.applied }, "database migrated");

    const db = createDb(databaseUrl, {
      max: config.DATABASE_POOL_MAX ?? poolSize,
      idleTimeoutMs: config.DATABASE_POOL_IDLE_TIMEOUT_MS,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
      onIdleError: (err) =>
        logger.warn({ err }, "database connection dropped while idle; the next query reconnects"),
    });
    shutdown.add("database pool", () => db.$disconnect());
    await ensureDefaultTasks(db);

    const modelCard = config.MODEL_DIR ? readModelCard(config.MODEL_DIR) : null;
    if (modelCard?.randomWeights) {
      logger.warn(
        { modelDir: config.MODEL_DIR },
        "the model has random weights: rankings and explanations are meaningless",
      );
    } else if (modelCard?.description) {
      logger.info({ modelDir: config.MODEL_DIR }, `the model is ${modelCard.description}`);
    }
    const prefixTokens = prefixBudget(config.PROMPT_MAX_TOKENS, modelCard?.prefixTokens);
    if (prefixTokens < config.PROMPT_MAX_TOKENS) {
      logger.info(
        { modelDir: config.MODEL_DIR, prefixTokens },
        `prompt prefixes are cut to ${prefixTokens} tokens, what the model was trained on (brewgate_prefix_tokens)`,
      );
    }
    const tokenizer = config.TOKENIZER_PATH ? await TextTokenizer.fromFile(config.TOKENIZER_PATH) : null;
    if (!tokenizer) logger.warn("no tokenizer configured (TOKENIZER_PATH): prompts cannot be built");

    let inference: InferenceService | null = null;
    if (config.INFERENCE_ADDRESSES) {
      const client = new InferenceClient({
        addresses: config.INFERENCE_ADDRESSES,
        scoreTimeoutMs: config.SCORE_TIMEOUT_MS,
        tls: readInferenceTls(config),
        routing: config.INFERENCE_ROUTING,
        loadFactor: config.INFERENCE_ROUTING_LOAD_FACTOR,
        resolveIntervalMs: config.INFERENCE_RESOLVE_INTERVAL_MS,
        onSidecarsChange: (sidecars) => logger.info({ sidecars }, "inference sidecars"),
        tokenizer: config.TOKENIZER_PATH
          ? { path: config.TOKENIZER_PATH, sha256: fileSha256(config.TOKENIZER_PATH) }
          : undefined,
        onTokenizerMismatch: (sidecar, message) => logger.error({ sidecar }, message),
        onResolveError: (host, err) =>
          logger.warn(
            { err, host },
            "resolving the sidecars' host name failed; keeping the addresses it had",
          ),
      });
      shutdown.add("inference client", async () => client.close());
      inference = new InferenceService(client);
    } else {
      logger.warn(
        "no inference sidecar configured (INFERENCE_ADDRESSES): rankings and explanations are unavailable",
      );
    }

    const bus = createGatewayPubSub(config.REDIS_URL);
    shutdown.add("event bus", () => bus.close());

    const metrics = createMetrics();
    const readiness: Record<string, () => Promise<void>> = { database: () => pingDb(db) };
    const listeners: InteractionsListener[] = [(events) => publishInteractions(bus.pubSub, events)];
    if (options.onInteractionsStored) listeners.push(options.onInteractionsStored);
    const interactions = new InteractionWriter(db, listeners, (err) =>
      logger.error({ err }, "interaction listener failed"),
    );
    let ingestion: Ingestion | null = null;
    let publishImpression = null;
    if (config.KAFKA_BROKERS) {
      const started = await startIngestion({ config, db, logger, metrics, interactions });
      ingestion = started;
      shutdown.add("Kafka ingestion", () => started.stop());
      readiness.kafka = () => started.ready();
      const publisher = await startImpressionPublisher(config, logger);
      shutdown.add("Kafka impression publisher", () => publisher.stop());
      publishImpression = publisher.publish;
    }
    const impressions = new ImpressionLog({
      insert: (batch) => insertImpressions(db, batch),
      publish: publishImpression,
      isTransient: isDatabaseUnavailable,
      logger,
      maxPending: config.IMPRESSION_MAX_PENDING,
      metrics: { impressions: metrics.impressions, pending: metrics.impressionsPending },
    });
    // Stopped before the publisher and the database (stops run in reverse), after HTTP drained.
    shutdown.add("impression log", () => impressions.close(config.IMPRESSION_FLUSH_TIMEOUT_MS));
    if (config.REDIS_URL) readiness.redis = () => bus.ping();
    if (inference) {
      const client = inference.client;
      readiness.inference = async () => {
        // Ready while some sidecar serves this gateway's tokenizer and answers now.
        const { matching, mismatched } = await client.checkSidecars();
        if (matching.length === 0 && mismatched.length > 0) throw new Error(mismatched.join("; "));
        await client.modelInfo({ timeoutMs: INFERENCE.controlTimeoutMs });
      };
    }
    // Rate-limit counters shared by every replica. Commands fail at once while Redis is away (no
    // offline queue): the limiter then counts in memory for the moment instead of waiting.
    const limiterRedis = config.REDIS_URL
      ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
      : null;
    if (limiterRedis) {
      limiterRedis.on("error", (err) => logger.debug({ err }, "rate-limit Redis connection error"));
      shutdown.add("rate-limit Redis client", async () => {
        limiterRedis.disconnect();
      });
      // "Away" includes "not connected yet": a replica serving before its connection is ready
      // would count its first operations alone. Wait for it, briefly; a Redis that is down
      // does not keep the gateway from starting.
      const ready = await redisReady(limiterRedis, RATE_LIMIT_REDIS_READY_MS);
      if (!ready) {
        logger.warn(
          { waitedMs: RATE_LIMIT_REDIS_READY_MS },
          "rate-limit Redis not ready: this replica counts rate limits in memory until it is",
        );
      }
    }
    if (config.NODE_ENV === "production" && !config.AUTH_REQUIRED) {
      logger.warn(
        "AUTH_REQUIRED=false under NODE_ENV=production: callers without credentials may do everything",
      );
    }
    const schema = await createSchema(bus.pubSub);
    const server = await createGatewayServer({
      schema,
      security: createSecurity(config, db, schema, limiterRedis),
      services: {
        config: { ...config, PROMPT_MAX_TOKENS: prefixTokens },
        db,
        logger,
        tokenizer,
        caches: {
          prefixes: new PrefixCache(config.PROMPT_CACHE_ENTRIES),
          pieces: new TokenCache(config.TOKEN_CACHE_ENTRIES),
          tasks: new TaskCache(config.TASK_CACHE_TTL_MS),
        },
        inference,
        impressions,
        interactions,
        pubSub: bus.pubSub,
        observer: rankingMetrics(metrics),
      },
      metrics,
      readiness,
      ide: config.IDE_ENABLED
        ? {
            randomWeights: modelCard?.randomWeights ?? false,
            modelDescription: modelCard?.description ?? null,
            exampleMemberId: config.IDE_EXAMPLE_MEMBER_ID,
            exampleTask: JOB_APPLY_TASK.name,
            tokens: options.ideTokens,
          }
        : undefined,
    });
    shutdown.add("HTTP and WebSocket server", () => server.stop());
    const url = await server.listen(config.HOST, config.PORT);

    return {
      url,
      randomWeights: modelCard?.randomWeights ?? false,
      modelDescription: modelCard?.description ?? null,
      db,
      databaseUrl,
      logger,
      metrics,
      ingestion,
      impressions,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether the client's connection is ready within `ms` (false: it is not, yet). */
function redisReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off("ready", onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    client.once("ready", onReady);
  });
}

/** The ranking paths' reports, recorded in `metrics`. */
export function rankingMetrics(metrics: Metrics): RankingObserver {
  return {
    ranking: (outcome, seconds) => metrics.rankingSeconds.observe({ outcome }, seconds),
    explanationFirstToken: (seconds) => metrics.explanationFirstTokenSeconds.observe(seconds),
    explanation: (outcome, seconds) => metrics.explanationSeconds.observe({ outcome }, seconds),
  };
}

/** Lowercase hex SHA-256 of a file's bytes (the sidecar hashes its tokenizer.json the same way). */
function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}
