import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { EVENT_LOOP_RESOLUTION_MS } from "../config/limits";

/** One registry per process; every metric of the gateway lives here. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({
    register: registry,
    prefix: "brewgate_",
    eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS,
  });
  return {
    registry,
    graphqlRequests: new Counter({
      name: "brewgate_graphql_requests_total",
      help: "GraphQL operations by type (query, mutation, subscription), root field (the schema's name, one count per root field; 'none' when the operation did not resolve) and outcome (ok, error)",
      labelNames: ["type", "field", "outcome"] as const,
      registers: [registry],
    }),
    rankingSeconds: new Histogram({
      name: "brewgate_ranking_seconds",
      help: "One ranking, from the request to the ranked answer (prompt, Score, ranking), by outcome",
      labelNames: ["outcome"] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    explanationFirstTokenSeconds: new Histogram({
      name: "brewgate_explanation_first_token_seconds",
      help: "Time to the first streamed text of an explanation (prompt, Score, prefill, first tokens)",
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    explanationSeconds: new Histogram({
      name: "brewgate_explanation_seconds",
      help: "One explanation, from the request to its last event, by outcome",
      labelNames: ["outcome"] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    refusals: new Counter({
      name: "brewgate_refusals_total",
      help: "Operations and connections refused before anything ran, by code (UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, BAD_USER_INPUT for the model cost) and transport (http, ws)",
      labelNames: ["code", "transport"] as const,
      registers: [registry],
    }),
    ingestEvents: new Counter({
      name: "brewgate_ingest_events_total",
      help: "Kafka events handled by topic and outcome (stored, duplicate, dead_lettered)",
      labelNames: ["topic", "outcome"] as const,
      registers: [registry],
    }),
    ingestParked: new Gauge({
      name: "brewgate_ingest_parked",
      help: "Interactions parked now (waiting for their member or item), all replicas together; read at each sweep",
      registers: [registry],
    }),
    ingestParkedOldestSeconds: new Gauge({
      name: "brewgate_ingest_parked_oldest_seconds",
      help: "How long the oldest parked interaction has waited; it is dead-lettered at INGEST_PARK_MAX_MS",
      registers: [registry],
    }),
    ingestBatchSeconds: new Histogram({
      name: "brewgate_ingest_batch_seconds",
      help: "Time to validate and store one Kafka batch",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    impressions: new Counter({
      name: "brewgate_impressions_total",
      help: "Served rankings by what became of their impression: stored, refused (by the database; logged), published, unwritten (at shutdown; logged)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    impressionsPending: new Gauge({
      name: "brewgate_impressions_pending",
      help: "Impressions queued in this process and not yet stored (and published, with Kafka)",
      registers: [registry],
    }),
    ingestLag: new Gauge({
      name: "brewgate_ingest_consumer_lag",
      help: "Messages between the consumer's position and the partition's high watermark",
      labelNames: ["topic", "partition"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
