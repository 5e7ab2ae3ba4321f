import { join } from "node:path";
import type { Config } from "./config";
import { createDb, type Db } from "./db/client";
import { startEmbeddedDb } from "./db/embedded";
import { isDatabaseUnavailable } from "./db/errors";
import { migrate } from "./db/migrate";
import { DEMO_MEMBER_ID } from "./demo/seed";
import { InferenceClient } from "./inference/client";
import { readModelCard } from "./inference/model-card";
import { InferenceService } from "./inference/service";
import { type Ingestion, type InteractionsListener, startIngestion } from "./ingest/consumer";
import { startImpressionPublisher } from "./ingest/impression-publisher";
import { createLogger, type Logger } from "./observability/logger";
import { createMetrics, type Metrics } from "./observability/metrics";
import { PrefixCache } from "./prompt/prefix-cache";
import { JOB_APPLY_TASK } from "./prompt/task-definition";
import { TokenCache } from "./prompt/token-cache";
import { TextTokenizer } from "./prompt/tokenizer";
import { createGatewayServer } from "./server/app";
import { createGatewayPubSub, publishInteractions } from "./server/pubsub";
import { createSchema } from "./server/schema";
import { ImpressionLog } from "./services/impression-log";
import { type ImpressionPublisher, insertImpressions } from "./services/impressions";
import { TaskCache } from "./services/task-cache";
import { ensureDefaultTasks } from "./services/tasks";

export interface Gateway {
  url: string;
  /** From the checkpoint's config.json, when MODEL_DIR is set. */
  randomWeights: boolean;
  db: Db;
  databaseUrl: string;
  logger: Logger;
  metrics: Metrics;
  /** Kafka ingestion, when KAFKA_BROKERS is set. */
  ingestion: Ingestion | null;
  /** Served rankings on their way to PostgreSQL (and Kafka); `flush()` waits for them. */
  impressions: ImpressionLog;
  /** Graceful stop: drain HTTP and WebSockets, finish the ingest batch in hand, close the database. */
  stop(): Promise<void>;
}

export interface GatewayHooks {
  /** Called with each batch of interactions Kafka ingestion stored (from the very first batch). */
  onInteractionsStored?: InteractionsListener;
}

/** Starts every part the configuration asks for, in dependency order. */
export async function startGateway(
  config: Config,
  logger: Logger = createLogger(config.LOG_LEVEL),
  hooks: GatewayHooks = {},
): Promise<Gateway> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      await stop().catch((err) => logger.error({ err }, "error during shutdown"));
    }
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    let poolSize = 10;
    if (!databaseUrl) {
      const embedded = await startEmbeddedDb(config.DATA_DIR, config.EMBEDDED_DB_PORT);
      stops.push(() => embedded.stop());
      databaseUrl = embedded.url;
      // PGlite executes one query at a time; a large pool only queues in the multiplexer.
      poolSize = 4;
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
    stops.push(() => db.$disconnect());
    await ensureDefaultTasks(db);

    const modelCard = config.MODEL_DIR ? readModelCard(config.MODEL_DIR) : null;
    if (modelCard?.randomWeights) {
      logger.warn(
        { modelDir: config.MODEL_DIR },
        "the model has random weights: rankings and explanations are meaningless",
      );
    }
    const tokenizer = config.TOKENIZER_PATH ? await TextTokenizer.fromFile(config.TOKENIZER_PATH) : null;
    if (!tokenizer) logger.warn("no tokenizer configured (TOKENIZER_PATH): prompts cannot be built");

    let inference: InferenceService | null = null;
    if (config.INFERENCE_ADDRESSES) {
      const client = new InferenceClient({
        addresses: config.INFERENCE_ADDRESSES,
        scoreTimeoutMs: config.SCORE_TIMEOUT_MS,
      });
      stops.push(async () => client.close());
      inference = new InferenceService(client);
    } else {
      logger.warn(
        "no inference sidecar configured (INFERENCE_ADDRESSES): rankings and explanations are unavailable",
      );
    }

    const bus = createGatewayPubSub(config.REDIS_URL);
    stops.push(() => bus.close());

    const metrics = createMetrics();
    const readiness: Record<string, () => Promise<void>> = {
      database: async () => {
        await db.$queryRaw`SELECT 1`;
      },
    };
    let ingestion: Ingestion | null = null;
    if (config.KAFKA_BROKERS) {
      const listeners: InteractionsListener[] = [(events) => publishInteractions(bus.pubSub, events)];
      if (hooks.onInteractionsStored) listeners.push(hooks.onInteractionsStored);
      const started = await startIngestion({ config, db, logger, metrics, listeners });
      ingestion = started;
      stops.push(() => started.stop());
      readiness.kafka = () => started.ready();
    }
    let publishImpression: ImpressionPublisher | null = null;
    if (config.KAFKA_BROKERS) {
      const publisher = await startImpressionPublisher(config, logger);
      stops.push(() => publisher.stop());
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
    stops.push(() => impressions.close(config.IMPRESSION_FLUSH_TIMEOUT_MS));
    if (config.REDIS_URL) readiness.redis = () => bus.ping();
    if (inference) {
      const client = inference.client;
      readiness.inference = async () => {
        await client.modelInfo({ timeoutMs: 2_000 });
      };
    }
    const server = await createGatewayServer({
      schema: await createSchema(bus.pubSub),
      context: {
        config,
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
        pubSub: bus.pubSub,
      },
      metrics,
      readiness,
      ide: config.IDE_ENABLED
        ? {
            randomWeights: modelCard?.randomWeights ?? false,
            exampleMemberId: DEMO_MEMBER_ID,
            exampleTask: JOB_APPLY_TASK.name,
          }
        : undefined,
    });
    const url = await server.listen(config.HOST, config.PORT);
    stops.push(() => server.stop());

    return {
      url,
      randomWeights: modelCard?.randomWeights ?? false,
      db,
      databaseUrl,
      logger,
      metrics,
      ingestion,
      impressions,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
