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

const flag = z.enum(["true", "false"]).transform((v) => v === "true");

/** A count where 0 turns the limit off. */
const limit = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

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
  /**
   * How the gateway talks to the brokers, as Kafka clients' security.protocol: PLAINTEXT, SSL
   * (TLS), SASL_PLAINTEXT or SASL_SSL (a SASL login over TLS: what managed Kafka services use).
   * @default PLAINTEXT
   */
  KAFKA_SECURITY_PROTOCOL: z.enum(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]).default("PLAINTEXT"),
  /**
   * PEM CA bundle that signs the brokers' certificates (SSL, SASL_SSL). Unset: Node's bundled
   * public CAs, which is what brokers with publicly signed certificates need.
   */
  KAFKA_SSL_CA: z.string().optional(),
  /** PEM client certificate (chain) for brokers that require one (ssl.client.auth=required). */
  KAFKA_SSL_CERT: z.string().optional(),
  /** PEM private key of KAFKA_SSL_CERT. */
  KAFKA_SSL_KEY: z.string().optional(),
  /** SASL mechanism (SASL_PLAINTEXT, SASL_SSL): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. */
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]))
    .optional(),
  /** SASL user name. */
  KAFKA_SASL_USERNAME: z.string().optional(),
  /** SASL password (from a Kubernetes Secret, say). */
  KAFKA_SASL_PASSWORD: z.string().optional(),
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
  /**
   * How long an interaction from Kafka whose member or item is not stored yet waits for them
   * (parked in PostgreSQL, released as soon as both exist) before it is dead-lettered; 0:
   * dead-letter at once. @default 600000 (10 minutes)
   */
  INGEST_PARK_MAX_MS: z.coerce.number().int().min(0).default(600_000),
  /** Largest number of events written to the database in one transaction. @default 2000 */
  INGEST_MAX_BATCH: z.coerce.number().int().min(1).max(100_000).default(2000),
  /** Hugging Face checkpoint directory of the served model; its tokenizer.json is the gateway's. */
  MODEL_DIR: z.string().optional(),
  /** Path of the model's tokenizer.json. @default $MODEL_DIR/tokenizer.json */
  TOKENIZER_PATH: z.string().optional(),
  /**
   * Inference sidecars, host:port entries: an IP is one sidecar, a name stands for every address
   * it resolves to (a Kubernetes headless Service: one per ready pod), resolved again every
   * INFERENCE_RESOLVE_INTERVAL_MS. Unset: no ranking.
   */
  INFERENCE_ADDRESSES: csv.optional(),
  /**
   * How a member's calls pick their sidecar: affinity (the member's calls go to the sidecar that
   * holds their prompt prefix, consistent hashing with bounded loads) or round_robin. @default affinity
   */
  INFERENCE_ROUTING: z.enum(["affinity", "round_robin"]).default("affinity"),
  /**
   * Affinity's load bound: a sidecar takes a member's call while it carries fewer than this
   * times the average calls in flight; else the next sidecar on the ring does. @default 1.25
   */
  INFERENCE_ROUTING_LOAD_FACTOR: z.coerce.number().min(1).max(100).default(INFERENCE.routingLoadFactor),
  /** How often sidecar host names are resolved again. @default 5000 */
  INFERENCE_RESOLVE_INTERVAL_MS: z.coerce.number().int().min(100).default(INFERENCE.resolveIntervalMs),
  /** Deadline of one Score call to the sidecar. @default 10000 */
  SCORE_TIMEOUT_MS: z.coerce.number().int().min(10).default(INFERENCE.scoreTimeoutMs),
  /**
   * PEM CA bundle that signs the sidecars' certificates (their --tls-cert). Set: the link to the
   * sidecars uses TLS and the sidecars' certificates are checked against it. Unset: plaintext.
   */
  INFERENCE_TLS_CA: z.string().optional(),
  /**
   * PEM client certificate (chain) the gateway presents to sidecars, for mutual TLS (sidecars
   * started with --tls-client-ca); needs INFERENCE_TLS_KEY and INFERENCE_TLS_CA.
   */
  INFERENCE_TLS_CERT: z.string().optional(),
  /** PEM private key of INFERENCE_TLS_CERT. */
  INFERENCE_TLS_KEY: z.string().optional(),
  /**
   * Name checked against the sidecars' certificates instead of the host of INFERENCE_ADDRESSES:
   * for addresses that are IPs the certificates do not list (several ip:port, say). Needs
   * INFERENCE_TLS_CA. @default the host of INFERENCE_ADDRESSES
   */
  INFERENCE_TLS_SERVER_NAME: z.string().optional(),
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
  /**
   * Serve the GraphQL IDE (GraphiQL, assets bundled, no CDN) at / and the playground at
   * /playground. @default true (false under NODE_ENV=production)
   */
  IDE_ENABLED: flag.optional(),
  /**
   * Where traces go: none, or otlp (OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT), as the
   * OpenTelemetry SDKs read it. @default none
   */
  OTEL_TRACES_EXPORTER: z.enum(["none", "otlp"]).default("none"),
  /** Base URL of the OTLP/HTTP collector; traces go to its /v1/traces. @default http://localhost:4318 */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().default("http://localhost:4318"),
  /** service.name of the gateway's spans. @default brewgate-gateway */
  OTEL_SERVICE_NAME: z.string().min(1).default("brewgate-gateway"),
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

  // ---- Security (README, Security) ----
  /**
   * `production`: authentication is required and the IDE and introspection are off, unless
   * turned on by AUTH_REQUIRED, IDE_ENABLED, INTROSPECTION_ENABLED. @default development
   */
  NODE_ENV: z.string().default("development"),
  /**
   * Refuse every GraphQL operation and WebSocket without valid credentials (UNAUTHENTICATED, close
   * 4401). When false, a caller without credentials may do everything; credentials sent are still
   * checked. @default false (true under NODE_ENV=production)
   */
  AUTH_REQUIRED: flag.optional(),
  /** JWKS URL whose keys verify bearer JWTs (RS256, ES256), fetched and cached, refreshed on an unknown kid. */
  AUTH_JWKS_URL: z.string().url().optional(),
  /** A public key verifying bearer JWTs: PEM text (SPKI), or the path of a PEM file. */
  AUTH_JWT_PUBLIC_KEY: z.string().optional(),
  /** Shared secret verifying HS256 JWTs (local use; 32 bytes or more). */
  AUTH_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  /** Signature algorithms accepted with AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY. @default RS256,ES256 */
  AUTH_JWT_ALGORITHMS: csv.pipe(z.array(z.enum(["RS256", "ES256"])).min(1)).default(["RS256", "ES256"]),
  /** Required `iss` of every JWT; required when JWTs are verified. */
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  /** Required `aud` of every JWT; required when JWTs are verified. */
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  /** Clock skew tolerated on `exp` and `nbf`, in seconds. @default 30 */
  AUTH_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(600).default(30),
  /** The claim holding a member token's member id. @default sub */
  AUTH_MEMBER_CLAIM: z.string().min(1).default("sub"),
  /** How long a checked API key is trusted before it is read again (a revoked key stops within it). @default 30000 */
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  /** Answer introspection queries. @default true (false under NODE_ENV=production) */
  INTROSPECTION_ENABLED: flag.optional(),
  /** Deepest selection of one operation (0: no limit). @default 10 */
  GRAPHQL_MAX_DEPTH: limit(10),
  /** Aliases in one operation (0: no limit). @default 15 */
  GRAPHQL_MAX_ALIASES: limit(15),
  /** Lexical tokens of one operation's text; variables do not count (0: no limit). @default 2000 */
  GRAPHQL_MAX_TOKENS: limit(2000),
  /** Directives in one operation (0: no limit). @default 20 */
  GRAPHQL_MAX_DIRECTIVES: limit(20),
  /** Structural cost of one operation: objects, fields, depth, graphql-armor's measure (0: no limit). @default 5000 */
  GRAPHQL_MAX_COST: limit(5000),
  /**
   * Model work of one operation: candidates scored by every `recommendations`, `livePredictions`
   * and `prompt` field plus tokens of every `explanation` (0: no limit). @default 1000
   */
  GRAPHQL_MAX_MODEL_COST: limit(1000),
  /** Window of the rate limits, in seconds. @default 60 */
  RATE_LIMIT_WINDOW_S: z.coerce.number().int().min(1).default(60),
  /**
   * Points a member principal may spend per window; an operation spends its model cost, at
   * least 1 (0: no limit). @default 3000
   */
  RATE_LIMIT_MEMBER_POINTS: limit(3000),
  /**
   * Points a service or admin principal may spend per window, and each address calling without
   * credentials where authentication is optional (0: no limit). @default 300000
   */
  RATE_LIMIT_SERVICE_POINTS: limit(300_000),
  /** Largest WebSocket message, in bytes. @default 1048576 */
  WS_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Open WebSockets of one principal on one gateway replica (0: no limit). @default 16 */
  WS_MAX_CONNECTIONS_PER_PRINCIPAL: limit(16),
  /** Subscriptions running at once on one WebSocket (0: no limit). @default 20 */
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: limit(20),
});

type Parsed = z.infer<typeof schema>;

/** The configuration, with the production-dependent defaults settled. */
export type Config = Omit<Parsed, "AUTH_REQUIRED" | "IDE_ENABLED" | "INTROSPECTION_ENABLED"> & {
  AUTH_REQUIRED: boolean;
  IDE_ENABLED: boolean;
  INTROSPECTION_ENABLED: boolean;
};

/** Every variable the gateway reads. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as (keyof Config)[];

/** Parses an environment; every problem is reported at once with the variable's name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  const production = parsed.data.NODE_ENV === "production";
  const config: Config = {
    ...parsed.data,
    AUTH_REQUIRED: parsed.data.AUTH_REQUIRED ?? production,
    IDE_ENABLED: parsed.data.IDE_ENABLED ?? !production,
    INTROSPECTION_ENABLED: parsed.data.INTROSPECTION_ENABLED ?? !production,
  };
  if (config.IMPRESSION_FLUSH_TIMEOUT_MS >= config.SHUTDOWN_TIMEOUT_MS) {
    throw new Error(
      `invalid configuration: IMPRESSION_FLUSH_TIMEOUT_MS (${config.IMPRESSION_FLUSH_TIMEOUT_MS}) must be below SHUTDOWN_TIMEOUT_MS (${config.SHUTDOWN_TIMEOUT_MS}), or the shutdown deadline cuts the flush short`,
    );
  }
  checkSecurity(config);
  checkInferenceTls(config);
  checkKafkaSecurity(config);
  if (!config.TOKENIZER_PATH && config.MODEL_DIR)
    config.TOKENIZER_PATH = `${config.MODEL_DIR}/tokenizer.json`;
  return config;
}

/** JWTs are verified when any of their keys is configured. */
export function jwtConfigured(config: Config): boolean {
  return Boolean(config.AUTH_JWKS_URL || config.AUTH_JWT_PUBLIC_KEY || config.AUTH_JWT_SECRET);
}

function checkSecurity(config: Config): void {
  if (jwtConfigured(config) && (!config.AUTH_JWT_ISSUER || !config.AUTH_JWT_AUDIENCE)) {
    throw new Error(
      "invalid configuration: AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE must be set when JWTs are verified (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)",
    );
  }
  if (config.AUTH_JWKS_URL && config.AUTH_JWT_PUBLIC_KEY) {
    throw new Error("invalid configuration: set AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY, not both");
  }
}

/** The INFERENCE_TLS_* variables that only work together; the files are read at start. */
function checkInferenceTls(config: Config): void {
  if (Boolean(config.INFERENCE_TLS_CERT) !== Boolean(config.INFERENCE_TLS_KEY)) {
    const [set, unset] = config.INFERENCE_TLS_CERT
      ? ["INFERENCE_TLS_CERT", "INFERENCE_TLS_KEY"]
      : ["INFERENCE_TLS_KEY", "INFERENCE_TLS_CERT"];
    throw new Error(
      `invalid configuration: INFERENCE_TLS_CERT and INFERENCE_TLS_KEY (the gateway's client certificate for mutual TLS and its key) go together: ${set} is set, ${unset} is not`,
    );
  }
  if (config.INFERENCE_TLS_CA) return;
  if (config.INFERENCE_TLS_CERT) {
    throw new Error(
      "invalid configuration: INFERENCE_TLS_CERT and INFERENCE_TLS_KEY need INFERENCE_TLS_CA (the CA that signs the sidecars' certificates): mutual TLS is TLS with a client certificate",
    );
  }
  if (config.INFERENCE_TLS_SERVER_NAME) {
    throw new Error(
      "invalid configuration: INFERENCE_TLS_SERVER_NAME needs INFERENCE_TLS_CA: without it the link to the sidecars is plaintext and no name is checked",
    );
  }
}

/** The KAFKA_SSL_* and KAFKA_SASL_* variables that KAFKA_SECURITY_PROTOCOL asks for, or would ignore. */
function checkKafkaSecurity(config: Config): void {
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const sasl = protocol.startsWith("SASL_");
  const tls = protocol.endsWith("SSL");
  const set = (names: (keyof Config)[]) => names.filter((n) => config[n] !== undefined);
  if (sasl) {
    const missing = (["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const).filter(
      (n) => !config[n],
    );
    if (missing.length > 0) {
      throw new Error(
        `invalid configuration: KAFKA_SECURITY_PROTOCOL=${protocol} logs in with SASL and needs ${missing.join(", ")}`,
      );
    }
  } else {
    const ignored = set(["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]);
    if (ignored.length > 0) {
      throw new Error(
        `invalid configuration: ${ignored.join(", ")} set, but KAFKA_SECURITY_PROTOCOL is ${protocol}: set it to SASL_SSL (or SASL_PLAINTEXT) to log in`,
      );
    }
  }
  if (!tls) {
    const ignored = set(["KAFKA_SSL_CA", "KAFKA_SSL_CERT", "KAFKA_SSL_KEY"]);
    if (ignored.length > 0) {
      throw new Error(
        `invalid configuration: ${ignored.join(", ")} set, but KAFKA_SECURITY_PROTOCOL is ${protocol}, which does not use TLS: set it to SSL or SASL_SSL`,
      );
    }
  }
  if (Boolean(config.KAFKA_SSL_CERT) !== Boolean(config.KAFKA_SSL_KEY)) {
    throw new Error(
      "invalid configuration: KAFKA_SSL_CERT and KAFKA_SSL_KEY (the client certificate and its key) go together",
    );
  }
}
