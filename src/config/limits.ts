/**
 * Fixed limits and internal tunables: the numbers the code uses that are not read from the
 * environment (those are in ./index.ts). Every module takes its numbers from here or from the
 * configuration, so a limit is changed in one place and documented where it is declared.
 */

/** What one request may ask for; over these a request gets BAD_USER_INPUT. */
export const REQUEST_LIMITS = {
  /** Candidates one ranking scores (and the most it returns). */
  maxCandidates: 500,
  /** Interaction events of one `recordInteractions` call. */
  maxEventsPerCall: 10_000,
  /** Rows of one page of a connection (`members`, `items`). */
  maxPageSize: 100,
  /** Tokens of one explanation. */
  maxExplanationTokens: 4096,
  /** Body of one GraphQL request over HTTP. */
  httpBodyBytes: 4 * 1024 * 1024,
} as const;

/** Prompts: room kept beyond the generated tokens for the answer word and the explanation cue. */
export const EXPLANATION_PROMPT_SLACK_TOKENS = 16;

/** Parsed and validated operations kept for the WebSocket transport. */
export const WS_DOCUMENT_CACHE_ENTRIES = 1_000;

/** The gRPC client of the sidecars. */
export const INFERENCE = {
  /** Deadline of a Score call when the caller sets none (SCORE_TIMEOUT_MS's default). */
  scoreTimeoutMs: 10_000,
  /** Deadline of a ModelInfo call. */
  modelInfoTimeoutMs: 5_000,
  /** Deadline of an Abort call, and of the readiness check's ModelInfo. */
  controlTimeoutMs: 2_000,
  /** Attempts of one call (first try included), each on the next sidecar when one is down or full. */
  maxAttempts: 4,
  /** Affinity routing's load bound: 1.25 times the average calls in flight (the CHWBL paper's c). */
  routingLoadFactor: 1.25,
  /** How often a sidecar host name is resolved again (a headless Service's pods come and go). */
  resolveIntervalMs: 5_000,
  /** A sidecar that answered UNAVAILABLE is skipped this long, doubling per failure in a row. */
  sidecarDownMs: { initialMs: 250, maxMs: 5_000 },
  /** Pause before trying every sidecar again, times the attempt number. */
  failoverPauseMs: 100,
  /**
   * HTTP/2 keepalive ping interval: no shorter than what gRPC servers permit by default (5
   * minutes without data), or the server answers GOAWAY ENHANCE_YOUR_CALM.
   */
  keepaliveMs: 300_000,
  keepaliveTimeoutMs: 20_000,
  reconnectBackoffMs: { initial: 200, max: 2_000 },
  maxReceiveBytes: 64 * 1024 * 1024,
} as const;

/** The impression log's loop. */
export const IMPRESSION_LOG = {
  /** Impressions written in one INSERT (and one Kafka send). */
  maxBatch: 500,
  /** Backoff between attempts of a failing batch. */
  retry: { initialMs: 100, maxMs: 5_000 },
  /** After its deadline, how long `close` waits for the attempt in flight. */
  inFlightGraceMs: 1_000,
} as const;

/** The Kafka ingestion consumer. */
export const INGEST_CONSUMER = {
  maxWaitTimeInMs: 250,
  maxBytes: 32 * 1024 * 1024,
  maxBytesPerPartition: 8 * 1024 * 1024,
  /** Short waits between retries: after a broker or database outage, ingestion resumes within seconds. */
  retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 3_000 },
} as const;

/** Interactions parked until their member or item arrives (src/ingest/parking.ts). */
export const INGEST_PARKING = {
  /** A sweep runs at least this often (and at once after a member or item batch is stored). */
  sweepMs: 500,
  /** Parked interactions released or dead-lettered per statement. */
  batch: 1_000,
} as const;

/** Kafka clients' lifecycle (src/kafka/lifecycle.ts). */
export const KAFKA_LIFECYCLE = {
  /** Waits between a crashed consumer's restarts, doubling; back to the first after each join. */
  restartBackoff: { initialMs: 300, maxMs: 5_000 },
  /** How long a stop lets a consumer start that is connecting or joining finish before cutting it off. */
  startSettleMs: 5_000,
  /** How long a producer's stop waits for sends in flight. */
  sendSettleMs: 5_000,
  /** TCP keepalive of Kafka sockets, as kafkajs's own socket factory sets it. */
  socketKeepAliveMs: 60_000,
} as const;

/** How long a starting gateway waits for the rate limiter's Redis connection before serving without it. */
export const RATE_LIMIT_REDIS_READY_MS = 3_000;

/** Database pools. */
export const DATABASE = {
  /** Connections of one gateway's pool (DATABASE_POOL_MAX's default). */
  poolMax: 10,
  /**
   * An idle connection is closed after this long (DATABASE_POOL_IDLE_TIMEOUT_MS's default).
   * Prisma's own engine keeps them 300 s; node-postgres's 10 s default would make the first
   * rankings after every lull pay for new connections and plan the prompt query again.
   */
  idleTimeoutMs: 300_000,
  /** A statement waiting for a connection fails after this long (DATABASE_CONNECT_TIMEOUT_MS's default). */
  connectTimeoutMs: 5_000,
  /** Member or item upserts of one transaction (the Kafka path writes a larger batch in several). */
  upsertChunk: 500,
  /** A chunk of versioned member or item events is one interactive transaction. */
  versionedBatchTimeoutMs: 30_000,
  /** PGlite executes one query at a time; a large pool only queues in its multiplexer. */
  embeddedPoolMax: 4,
  embeddedMaxConnections: 8,
} as const;

/** Past SHUTDOWN_TIMEOUT_MS, how long a stopping process waits for its stop to return before exiting anyway. */
export const SHUTDOWN_EXIT_MARGIN_MS = 2_000;

/**
 * Resolution of the event-loop delay metric. The monitor wakes the process once per resolution:
 * at prom-client's default of 10 ms that is most of an idle gateway's CPU (commit ce86d5e has the
 * figures). Ten samples a second can miss a stall shorter than this that falls between two of
 * them; the stalls worth alerting on are longer.
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;
