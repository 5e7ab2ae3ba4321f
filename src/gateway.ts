import { join } from "node:path";
import type { Config } from "./config";
import { createDb, type Db } from "./db/client";
import { startEmbeddedDb } from "./db/embedded";
import { migrate } from "./db/migrate";
import { type Ingestion, startIngestion } from "./ingest/consumer";
import { createLogger, type Logger } from "./observability/logger";
import { createMetrics, type Metrics } from "./observability/metrics";
import { TextTokenizer } from "./prompt/tokenizer";
import { createGatewayServer } from "./server/app";
import { createSchema } from "./server/schema";
import { ensureDefaultTasks } from "./services/tasks";

export interface Gateway {
  url: string;
  db: Db;
  databaseUrl: string;
  logger: Logger;
  metrics: Metrics;
  /** Kafka ingestion, when KAFKA_BROKERS is set; `onInteractionsStored` reports new interactions. */
  ingestion: Ingestion | null;
  /** Graceful stop: drain HTTP and WebSockets, finish the ingest batch in hand, close the database. */
  stop(): Promise<void>;
}

/** Starts every part the configuration asks for, in dependency order. */
export async function startGateway(
  config: Config,
  logger: Logger = createLogger(config.LOG_LEVEL),
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

    const db = createDb(databaseUrl, poolSize);
    stops.push(() => db.$disconnect());
    await ensureDefaultTasks(db);

    const tokenizer = config.TOKENIZER_PATH ? await TextTokenizer.fromFile(config.TOKENIZER_PATH) : null;
    if (!tokenizer) logger.warn("no tokenizer configured (TOKENIZER_PATH): prompts cannot be built");

    const metrics = createMetrics();
    const readiness: Record<string, () => Promise<void>> = {
      database: async () => {
        await db.$queryRaw`SELECT 1`;
      },
    };
    let ingestion: Ingestion | null = null;
    if (config.KAFKA_BROKERS) {
      const started = await startIngestion({ config, db, logger, metrics });
      ingestion = started;
      stops.push(() => started.stop());
      readiness.kafka = () => started.ready();
    }
    const server = await createGatewayServer({
      schema: await createSchema(),
      context: { config, db, logger, tokenizer },
      metrics,
      readiness,
    });
    const url = await server.listen(config.HOST, config.PORT);
    stops.push(() => server.stop());

    return { url, db, databaseUrl, logger, metrics, ingestion, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
