import type { IHeaders, KafkaMessage } from "kafkajs";
import { INGEST_PARKING } from "../config/limits";
import type { Db } from "../db/client";
import {
  deleteParked,
  findReleasable,
  type ParkedInteraction,
  parkedSummary,
  parkInteractions,
  takeExpired,
} from "../db/parked";
import { type InteractionEvent, interactionEvent } from "../domain/events";
import type { Logger } from "../observability/logger";
import type { Metrics } from "../observability/metrics";
import type { Source } from "./dead-letter";
import type { Decoded, Rejected } from "./decode";
import type { InteractionWriter } from "./interactions";

export interface ParkingOptions {
  db: Db;
  writer: InteractionWriter;
  /** Dead-letters messages from one source partition (acks -1) and resolves once they are written. */
  deadLetter: (source: Source, rejected: Rejected[]) => Promise<void>;
  /** The interactions topic: released interactions are counted under it. */
  topic: string;
  /** How long an interaction may wait for its member or item (INGEST_PARK_MAX_MS). */
  maxMs: number;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Kafka gives no order across topics: a member's first interaction often arrives before the
 * member does. Such an interaction is parked in PostgreSQL (table ParkedInteraction) with its
 * original message, in the same batch that would have stored it, before the offset is committed:
 * once parked it is as durable as a stored one. A sweep, run when a member or item batch is
 * stored and every INGEST_PARKING.sweepMs anyway, stores the parked interactions whose member and
 * item now exist (through the same writer, so live predictions hear of them) and then deletes
 * them; one still waiting after `maxMs` is dead-lettered with its original key, value, timestamp
 * and headers and the reason as it stands then.
 *
 * Crash safety: a release stores (idempotent on eventId) before it deletes, so a crash between
 * the two stores nothing twice; an expiry deletes in the transaction that waits for the dead
 * letter's acks, so a failed send leaves the row parked. Replicas may sweep at once: releases
 * are idempotent, expiries skip rows another replica holds.
 */
export class Parking {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly o: ParkingOptions) {}

  /** Parks events whose member or item is unknown; `reasons` by index into `decoded`. */
  async park(
    decoded: Decoded<InteractionEvent>[],
    reasons: Map<number, string>,
    source: Source,
  ): Promise<number> {
    const rows = [...reasons].map(([index, reason]) => {
      const { event, message } = decoded[index];
      return {
        eventId: event.eventId,
        memberId: event.memberId,
        itemId: event.itemId,
        event: { ...event, occurredAt: event.occurredAt.toISOString() },
        reason,
        sourceTopic: source.topic,
        sourcePartition: source.partition,
        sourceOffset: message.offset,
        messageKey: message.key,
        messageValue: message.value,
        messageTimestamp: message.timestamp,
        messageHeaders: encodeHeaders(message.headers),
      };
    });
    const parked = await parkInteractions(this.o.db, rows);
    this.o.metrics.ingestEvents.inc({ topic: source.topic, outcome: "parked" }, rows.length);
    return parked;
  }

  /** Starts sweeping every INGEST_PARKING.sweepMs. */
  start(): void {
    this.schedule(INGEST_PARKING.sweepMs);
  }

  /** Sweeps soon: members or items were just stored. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /** Stops sweeping and waits for the sweep in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep: release what can be stored now, then dead-letter what waited too long. */
  async sweep(): Promise<{ released: number; expired: number }> {
    let released = 0;
    for (;;) {
      const rows = await findReleasable(this.o.db, INGEST_PARKING.batch);
      if (rows.length === 0) break;
      const events = rows.map((r) => interactionEvent.parse(r.event));
      const result = await this.o.writer.storeKnown(events);
      await deleteParked(
        this.o.db,
        rows.map((r) => r.eventId),
      );
      released += result.stored.length;
      this.o.metrics.ingestEvents.inc({ topic: this.o.topic, outcome: "released" }, result.stored.length);
      if (rows.length < INGEST_PARKING.batch) break;
    }
    let expired = 0;
    const before = new Date(Date.now() - this.o.maxMs);
    for (;;) {
      const n = await takeExpired(this.o.db, before, INGEST_PARKING.batch, (rows) => this.deadLetter(rows));
      expired += n;
      if (n < INGEST_PARKING.batch) break;
    }
    const { count, oldest } = await parkedSummary(this.o.db);
    this.o.metrics.ingestParked.set(count);
    this.o.metrics.ingestParkedOldestSeconds.set(
      oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0,
    );
    return { released, expired };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.sweep()
        .then(({ released, expired }) => {
          if (released > 0 || expired > 0)
            this.o.logger.info({ released, expired }, "parked interactions swept");
        })
        .catch((err) => this.o.logger.warn({ err }, "sweeping parked interactions failed; retrying"))
        .finally(() => {
          this.running = null;
          const next = this.again ? 0 : INGEST_PARKING.sweepMs;
          this.again = false;
          this.schedule(next);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async deadLetter(rows: ParkedInteraction[]): Promise<void> {
    const bySource = new Map<string, { source: Source; rejected: Rejected[] }>();
    for (const row of rows) {
      const key = `${row.sourceTopic}\u0000${row.sourcePartition}`;
      const group = bySource.get(key) ?? {
        source: { topic: row.sourceTopic, partition: row.sourcePartition },
        rejected: [],
      };
      group.rejected.push({ message: toMessage(row), reason: row.reason });
      bySource.set(key, group);
    }
    for (const { source, rejected } of bySource.values()) {
      await this.o.deadLetter(source, rejected);
      this.o.metrics.ingestEvents.inc({ topic: source.topic, outcome: "dead_lettered" }, rejected.length);
    }
    this.o.logger.warn(
      { count: rows.length, reason: rows[0].reason, waitedMs: this.o.maxMs },
      "parked interactions dead-lettered: their member or item never arrived (first reason shown)",
    );
  }
}

function encodeHeaders(headers: IHeaders | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const b64 = (v: Buffer | string) => (typeof v === "string" ? Buffer.from(v, "utf8") : v).toString("base64");
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map(b64) : b64(value);
  }
  return out;
}

/** The parked row as the message it came in (what the dead letter copies). */
function toMessage(row: ParkedInteraction): KafkaMessage {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(row.messageHeaders)) {
    headers[name] = Array.isArray(value)
      ? value.map((v) => Buffer.from(v, "base64"))
      : Buffer.from(value, "base64");
  }
  return {
    key: row.messageKey ? Buffer.from(row.messageKey) : null,
    value: row.messageValue ? Buffer.from(row.messageValue) : null,
    timestamp: row.messageTimestamp,
    offset: row.sourceOffset,
    headers,
    attributes: 0,
  } as KafkaMessage;
}
