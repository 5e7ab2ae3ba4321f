import { z } from "zod";
import { DATABASE, INFERENCE, REQUEST_LIMITS } from "./limits";

/** Comma-separated list, empty entries dropped. */
const csv = z.string().transform((s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0),
);

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  /** Address the HTTP/WebSocket server binds to. @default 127.0.0.1 */
  HOST: z.string().default("127.0.0.1"),
  /** HTTP port for GraphQL, /healthz, /readyz and /metrics. @default 4000 */
  PORT: port.default(4000),
  /** pino level. @default info */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** PostgreSQL URL. Unset: an embedded PGlite under DATA_DIR is started and used. */
  DATABASE_URL: z.string().url().optional(),
  /** Most database connections of one gateway. @default 10 (4 with the embedded database) */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).optional(),
  /** An idle database connection is closed after this long (0: never). @default 300000 */
  DATABASE_POOL_IDLE_TIMEOUT_MS: z.coerce.number().int().min(0).default(DATABASE.idleTimeoutMs),
  /**
   * A statement waiting for a database connection fails after this long (the server is
   * unreachable, or every connection stayed busy). @default 5000
   */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(1).default(DATABASE.connectTimeoutMs),
  /** Where the embedded database and other local state live. @default ./.data */
  DATA_DIR: z.string().default(".data"),
  /** Port of the embedded PGlite server (only when DATABASE_URL is unset). @default 54329 */
  EMBEDDED_DB_PORT: port.default(54329),
  /** Kafka bootstrap brokers, e.g. 127.0.0.1:9092. Unset: no Kafka ingestion. */
  KAFKA_BROKERS: csv.optional(),
  /** @default brewgate */
  KAFKA_CLIENT_ID: z.string().default("brewgate"),
  /** Consumer group of the ingestion workers. @default brewgate-ingest */
  KAFKA_GROUP_ID: z.string().default("brewgate-ingest"),
  /** @default brewgate.interactions */
  KAFKA_TOPIC_INTERACTIONS: z.string().default("brewgate.interactions"),
  /** @default brewgate.members */
  KAFKA_TOPIC_MEMBERS: z.string().default("brewgate.members"),
  /** @default brewgate.items */
  KAFKA_TOPIC_ITEMS: z.string().default("brewgate.items"),
  /** Dead-letter topic; the reason travels in the `x-dlq-reason` header. @default brewgate.dlq */
  KAFKA_TOPIC_DLQ: z.string().default("brewgate.dlq"),
  /**
   * Partitions of each ingestion topic the gateway creates on start (existing ones are kept);
   * the most ingestion consumers that can share the work. @default 6
   */
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  /** Partitions one ingestion consumer works on at the same time. @default 6 */
  INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
  /** Largest number of events written to the database in one transaction. @default 2000 */
  INGEST_MAX_BATCH: z.coerce.number().int().min(1).max(100_000).default(2000),
  /** Hugging Face checkpoint directory of the served model; its tokenizer.json is the gateway's. */
  MODEL_DIR: z.string().optional(),
  /** Path of the model's tokenizer.json. @default $MODEL_DIR/tokenizer.json */
  TOKENIZER_PATH: z.string().optional(),
  /** Inference sidecars (host:port, or several ip:port), balanced round robin. Unset: no ranking. */
  INFERENCE_ADDRESSES: csv.optional(),
  /** Deadline of one Score call to the sidecar. @default 10000 */
  SCORE_TIMEOUT_MS: z.coerce.number().int().min(10).default(INFERENCE.scoreTimeoutMs),
  /** Deadline of one explanation's generation. @default 120000 */
  GENERATE_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  /** Most tokens of one explanation. @default 96 */
  EXPLANATION_MAX_TOKENS: z.coerce.number().int().min(1).max(REQUEST_LIMITS.maxExplanationTokens).default(96),
  /** Candidates the retrieval step offers when a query names none. @default 50 */
  RETRIEVAL_LIMIT: z.coerce.number().int().min(1).max(REQUEST_LIMITS.maxCandidates).default(50),
  /**
   * Impressions waiting in a gateway for the database or Kafka beyond which rankings are refused
   * (UNAVAILABLE) rather than served unrecorded. @default 10000
   */
  IMPRESSION_MAX_PENDING: z.coerce.number().int().min(1).default(10_000),
  /** How long a stopping gateway keeps trying to write queued impressions. @default 10000 */
  IMPRESSION_FLUSH_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  /** Topic every served ranking is published to. @default brewgate.impressions */
  KAFKA_TOPIC_IMPRESSIONS: z.string().default("brewgate.impressions"),
  /**
   * An interaction that names no impression counts as the outcome of the latest impression that
   * showed its item to the member within this long before it (src/db/outcomes.ts); one that names
   * an impression belongs to it whenever it happened. Read by the `impression` and `impressions`
   * queries. @default 604800000 (7 days)
   */
  ATTRIBUTION_WINDOW_MS: z.coerce.number().int().min(1).default(604_800_000),
  /** Serve the GraphQL IDE (GraphiQL, assets bundled, no CDN) at / . @default true */
  IDE_ENABLED: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
  /** Redis for subscription fan-out across gateway replicas. Unset: in-process only. */
  REDIS_URL: z.string().url().optional(),
  /** Tokenized prompt prefixes kept in memory for reuse (0: none). @default 10000 */
  PROMPT_CACHE_ENTRIES: z.coerce.number().int().min(0).default(10_000),
  /** Candidate suffixes and answer labels kept tokenized in memory (0: none). @default 20000 */
  TOKEN_CACHE_ENTRIES: z.coerce.number().int().min(0).default(20_000),
  /**
   * How long a replica keeps a task definition read for rankings (0: read every time). A task
   * edited through another replica reaches this one within this time and one read (an expired
   * copy is refreshed in the background). @default 5000
   */
  TASK_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5_000),
  /**
   * How long a stopping gateway (SIGTERM, SIGINT) may take in all: drain requests, finish the
   * ingest batch in hand, write queued impressions, close Kafka clients and the database. What
   * is still running then is logged as abandoned and the process exits. Keep it under the
   * orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds, 30 s by default) and
   * above IMPRESSION_FLUSH_TIMEOUT_MS. @default 25000
   */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(25_000),
  /** Member the IDE's example operations name (the demo data has `member-1`). @default member-1 */
  IDE_EXAMPLE_MEMBER_ID: z.string().min(1).default("member-1"),
  /** Token budget of the whole prompt prefix (instruction + profile + history), capped by the model's context. @default 4096 */
  PROMPT_MAX_TOKENS: z.coerce.number().int().min(64).default(4096),
});

export type Config = z.infer<typeof schema>;

/** Every variable the gateway reads. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as (keyof Config)[];

/** Parses an environment; every problem is reported at once with the variable's name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  const config = parsed.data;
  if (config.IMPRESSION_FLUSH_TIMEOUT_MS >= config.SHUTDOWN_TIMEOUT_MS) {
    throw new Error(
      `invalid configuration: IMPRESSION_FLUSH_TIMEOUT_MS (${config.IMPRESSION_FLUSH_TIMEOUT_MS}) must be below SHUTDOWN_TIMEOUT_MS (${config.SHUTDOWN_TIMEOUT_MS}), or the shutdown deadline cuts the flush short`,
    );
  }
  if (!config.TOKENIZER_PATH && config.MODEL_DIR)
    config.TOKENIZER_PATH = `${config.MODEL_DIR}/tokenizer.json`;
  return config;
}
