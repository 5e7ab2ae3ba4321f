import type { Counter, Gauge } from "prom-client";
import { IMPRESSION_LOG } from "../config/limits";
import { unavailable } from "../domain/errors";
import type { ImpressionPublisher, ImpressionRecord, ImpressionSink } from "../domain/impression";
import type { Logger } from "../observability/logger";
import { within } from "../util/within";

export interface ImpressionLogOptions {
  /** Stores a batch; ids already stored must be left as they are (a batch can be written twice). */
  insert: (batch: ImpressionRecord[]) => Promise<void>;
  /** Announces stored batches (the Kafka topic); null: the database only. */
  publish: ImpressionPublisher | null;
  /** Whether a failed insert may succeed later (database unreachable), not refused for its rows. */
  isTransient: (err: unknown) => boolean;
  logger: Logger;
  /** Impressions waiting in this process beyond which rankings are refused (UNAVAILABLE). */
  maxPending: number;
  /** @default IMPRESSION_LOG.maxBatch */
  maxBatch?: number;
  /** Backoff between attempts of a failing batch. @default IMPRESSION_LOG.retry */
  retry?: { initialMs: number; maxMs: number };
  metrics?: {
    /** By outcome: stored, refused (by the database, logged), published, unwritten (at shutdown). */
    impressions: Counter<"outcome">;
    pending: Gauge;
  };
}

/**
 * One step of the log: a queue written a batch at a time by one loop, in order, retrying the batch
 * at its head with backoff until it succeeds or the log gives up at shutdown.
 */
class Stage {
  readonly queue: ImpressionRecord[] = [];
  private running = false;
  private stopped = false;
  private idle: (() => void)[] = [];
  private wake: (() => void) | null = null;

  constructor(
    private readonly name: string,
    private readonly write: (batch: ImpressionRecord[]) => Promise<void>,
    private readonly written: (batch: ImpressionRecord[]) => void,
    private readonly opts: { logger: Logger; maxBatch: number; initialMs: number; maxMs: number },
  ) {}

  push(records: ImpressionRecord[]): void {
    for (const r of records) this.queue.push(r);
    if (this.running || this.stopped) return;
    this.running = true;
    // After the current I/O callbacks: the answers of one engine step arrive together, and go to
    // the database as one statement.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    let delay = 0;
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.queue.slice(0, this.opts.maxBatch);
      try {
        await this.write(batch);
      } catch (err) {
        delay = delay === 0 ? this.opts.initialMs : Math.min(delay * 2, this.opts.maxMs);
        this.opts.logger.warn(
          { err, pending: this.queue.length, retryInMs: delay },
          `impressions: ${this.name} failed; the batch is kept and retried`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        continue;
      }
      delay = 0;
      this.queue.splice(0, batch.length);
      this.written(batch);
    }
    this.running = false;
    for (const done of this.idle.splice(0)) done();
  }

  /** Resolves when the queue is empty (or the stage was stopped) and no attempt is running. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** No further attempts; a running one finishes. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

/**
 * Records served rankings behind the answer: `record` only queues, and one loop writes what
 * queued meanwhile as one INSERT (then one Kafka send), so a ranking does not wait for either
 * round trip. Nothing is dropped quietly: a batch that fails for want of the database or the
 * broker is kept and retried with backoff (rows first, then the topic, so every published
 * impression is in the table); rows the database refuses for their content (their member was
 * deleted meanwhile) are logged in full and still published; when more than `maxPending` wait,
 * rankings are refused with UNAVAILABLE instead of being served unrecorded; `close` writes what is
 * left and logs in full whatever it could not write before its deadline. The topic is
 * at-least-once (consumers dedupe by impression id); the table holds each impression once.
 */
export class ImpressionLog implements ImpressionSink {
  private readonly stored: Stage;
  private readonly published: Stage | null;
  private closed = false;

  constructor(private readonly opts: ImpressionLogOptions) {
    const stage = {
      logger: opts.logger,
      maxBatch: opts.maxBatch ?? IMPRESSION_LOG.maxBatch,
      initialMs: (opts.retry ?? IMPRESSION_LOG.retry).initialMs,
      maxMs: (opts.retry ?? IMPRESSION_LOG.retry).maxMs,
    };
    const publish = opts.publish;
    this.published = publish
      ? new Stage(
          "publishing",
          publish,
          (batch) => {
            opts.metrics?.impressions.inc({ outcome: "published" }, batch.length);
            this.changed();
          },
          stage,
        )
      : null;
    this.stored = new Stage(
      "storing",
      (batch) => this.store(batch),
      (batch) => {
        this.published?.push(batch);
        this.changed();
      },
      stage,
    );
  }

  /** Queues a served ranking; UNAVAILABLE when the log is closed or too far behind. */
  record(impression: ImpressionRecord): void {
    if (this.closed) throw unavailable("the gateway is shutting down");
    const pending = this.pending;
    if (pending >= this.opts.maxPending) {
      throw unavailable(
        `impressions cannot be recorded now (${pending} waiting for the database or Kafka); try again later`,
      );
    }
    this.stored.push([impression]);
    this.changed();
  }

  /** Impressions queued and not yet stored (and published, with Kafka). */
  get pending(): number {
    return this.stored.queue.length + (this.published?.queue.length ?? 0);
  }

  /** Resolves once everything recorded before the call is stored and published. */
  async flush(): Promise<void> {
    await this.stored.whenIdle();
    await this.published?.whenIdle();
  }

  /**
   * Takes no more impressions and writes what is queued. After `timeoutMs` it stops retrying and
   * logs each impression it could not write, in full, at error level.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    await within(this.flush(), timeoutMs);
    if (this.pending === 0) return;
    this.stored.stop();
    this.published?.stop();
    // An attempt in flight may still finish; what it writes is then reported below as well.
    await within(this.flush(), IMPRESSION_LOG.inFlightGraceMs);
    const left = [
      ...this.stored.queue.map((impression) => ({ impression, missing: "table and topic" })),
      ...(this.published?.queue ?? []).map((impression) => ({ impression, missing: "topic" })),
    ];
    for (const { impression, missing } of left) {
      this.opts.logger.error(
        { impression, missing },
        "impression not fully written before shutdown (`missing` says where); this line holds it whole",
      );
    }
    this.opts.metrics?.impressions.inc({ outcome: "unwritten" }, left.length);
  }

  /** One INSERT; when the database refuses it for its rows, each row alone to find which. */
  private async store(batch: ImpressionRecord[]): Promise<void> {
    try {
      await this.opts.insert(batch);
    } catch (err) {
      if (this.opts.isTransient(err)) throw err;
      if (batch.length === 1) this.refused(batch[0], err);
      else await this.storeEach(batch);
      return;
    }
    this.opts.metrics?.impressions.inc({ outcome: "stored" }, batch.length);
  }

  private async storeEach(batch: ImpressionRecord[]): Promise<void> {
    for (const impression of batch) {
      try {
        await this.opts.insert([impression]);
        this.opts.metrics?.impressions.inc({ outcome: "stored" });
      } catch (err) {
        // The rows before are stored: a retry of the batch leaves them as they are.
        if (this.opts.isTransient(err)) throw err;
        this.refused(impression, err);
      }
    }
  }

  private refused(impression: ImpressionRecord, err: unknown): void {
    this.opts.logger.error(
      { err, impression },
      "the database refused an impression; it is kept in this log line and still published",
    );
    this.opts.metrics?.impressions.inc({ outcome: "refused" });
  }

  private changed(): void {
    this.opts.metrics?.pending.set(this.pending);
  }
}
