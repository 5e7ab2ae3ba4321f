import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { DomainError } from "../../src/domain/errors";
import type { ImpressionRecord } from "../../src/domain/impression";
import { ImpressionLog, type ImpressionLogOptions } from "../../src/impressions/log";
import { createMetrics } from "../../src/observability/metrics";

const impression = (id: string, memberId = "m1"): ImpressionRecord => ({
  id,
  requestId: `r-${id}`,
  memberId,
  taskName: "job_apply",
  model: "test-model",
  promptVersion: "test-prompt",
  createdAt: new Date(Date.UTC(2026, 10, 30)),
  candidates: [{ itemId: "j1", rank: 1, score: 0.5, probabilities: { APPLY: 0.5 } }],
});

/** Log lines the log wrote, parsed. */
function capturedLogger() {
  const lines: { level: number; msg: string; impression?: ImpressionRecord; missing?: string }[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const transient = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { transient: true });
const refusal = new Error('insert violates foreign key constraint "Impression_memberId_fkey"');

/**
 * A fake database and broker: they record what reached them and fail as `fail` says. The boundary
 * is faked here; test/integration/database-outage.test.ts runs the log on the real server.
 */
function harness(opts: Partial<ImpressionLogOptions> = {}) {
  const stored: string[][] = [];
  const published: string[][] = [];
  const calls = { insert: 0, publish: 0 };
  const fail: { insert?: (batch: ImpressionRecord[]) => Error | null; publish?: () => Error | null } = {};
  const { logger, lines } = capturedLogger();
  const metrics = createMetrics();
  const log = new ImpressionLog({
    insert: async (batch) => {
      calls.insert++;
      await new Promise((r) => setTimeout(r, 1));
      const err = fail.insert?.(batch);
      if (err) throw err;
      stored.push(batch.map((i) => i.id));
    },
    publish: async (batch) => {
      calls.publish++;
      const err = fail.publish?.();
      if (err) throw err;
      published.push(batch.map((i) => i.id));
    },
    isTransient: (err) => (err as { transient?: boolean }).transient === true,
    logger,
    maxPending: 100,
    retry: { initialMs: 5, maxMs: 20 },
    metrics: { impressions: metrics.impressions, pending: metrics.impressionsPending },
    ...opts,
  });
  const outcomes = async () =>
    Object.fromEntries(
      (await metrics.impressions.get()).values.map((v) => [String(v.labels.outcome), v.value]),
    );
  return { log, stored, published, calls, fail, lines, outcomes };
}

describe("impression log (written behind the answer)", () => {
  it("returns at once, and writes what one turn recorded as one INSERT and one send, in order", async () => {
    const h = harness();
    for (const id of ["a", "b", "c"]) h.log.record(impression(id));
    // Nothing has been written yet: record only queues.
    assert.equal(h.calls.insert, 0);
    assert.equal(h.log.pending, 3);
    await h.log.flush();
    assert.deepEqual(h.stored, [["a", "b", "c"]]);
    assert.deepEqual(h.published, [["a", "b", "c"]]);
    assert.equal(h.log.pending, 0);
    // What arrives while a batch is written goes in the next one.
    h.log.record(impression("d"));
    await new Promise((r) => setImmediate(r));
    h.log.record(impression("e"));
    h.log.record(impression("f"));
    await h.log.flush();
    assert.deepEqual(h.stored.slice(1), [["d"], ["e", "f"]]);
    assert.deepEqual(await h.outcomes(), { stored: 6, published: 6 });
  });

  it("keeps a batch the database could not take and writes it, once, when it answers again", async () => {
    const h = harness();
    let down = 3;
    h.fail.insert = () => (down-- > 0 ? transient : null);
    h.log.record(impression("a"));
    h.log.record(impression("b"));
    await h.log.flush();
    assert.equal(h.calls.insert, 4);
    assert.deepEqual(h.stored, [["a", "b"]]);
    // Never announced before it was stored.
    assert.deepEqual(h.published, [["a", "b"]]);
    assert.equal(h.lines.filter((l) => /storing failed/.test(l.msg)).length, 3);
  });

  it("retries only the send when the broker fails after the rows were stored", async () => {
    const h = harness();
    let down = 2;
    h.fail.publish = () => (down-- > 0 ? new Error("KafkaJSNumberOfRetriesExceeded") : null);
    h.log.record(impression("a"));
    await h.log.flush();
    assert.equal(h.calls.insert, 1);
    assert.equal(h.calls.publish, 3);
    assert.deepEqual(h.published, [["a"]]);
    // Meanwhile the database stage went on: rows do not wait for the broker.
    h.fail.publish = () => new Error("broker down");
    h.log.record(impression("b"));
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(h.stored, [["a"], ["b"]]);
    h.fail.publish = undefined;
    await h.log.flush();
    assert.deepEqual(h.published, [["a"], ["b"]]);
  });

  it("stores the rest of a batch the database refuses a row of, and logs that row in full", async () => {
    const h = harness();
    h.fail.insert = (batch) => (batch.some((i) => i.memberId === "gone") ? refusal : null);
    h.log.record(impression("a"));
    h.log.record(impression("x", "gone"));
    h.log.record(impression("b"));
    await h.log.flush();
    assert.deepEqual(h.stored, [["a"], ["b"]]);
    const refused = h.lines.filter((l) => /refused an impression/.test(l.msg));
    assert.equal(refused.length, 1);
    assert.equal(refused[0].impression?.id, "x");
    assert.deepEqual(refused[0].impression?.candidates, impression("x").candidates);
    // Still announced: the topic has every served ranking.
    assert.deepEqual(h.published, [["a", "x", "b"]]);
    assert.deepEqual(await h.outcomes(), { stored: 2, refused: 1, published: 3 });
  });

  it("refuses rankings with UNAVAILABLE while too many wait, and takes them again once written", async () => {
    const h = harness({ maxPending: 2 });
    let down = true;
    h.fail.insert = () => (down ? transient : null);
    h.log.record(impression("a"));
    h.log.record(impression("b"));
    assert.throws(
      () => h.log.record(impression("c")),
      (err: unknown) =>
        err instanceof DomainError && err.code === "UNAVAILABLE" && /2 waiting/.test(err.message),
    );
    down = false;
    await h.log.flush();
    h.log.record(impression("c"));
    await h.log.flush();
    assert.deepEqual(h.stored.flat(), ["a", "b", "c"]);
  });

  it("on close writes what is queued, and logs in full what it could not write by the deadline", async () => {
    const h = harness();
    h.log.record(impression("a"));
    await h.log.close(1_000);
    assert.deepEqual(h.stored, [["a"]]);
    assert.deepEqual(h.published, [["a"]]);
    assert.throws(() => h.log.record(impression("b")), /shutting down/);

    const dead = harness();
    dead.fail.insert = () => transient;
    dead.log.record(impression("p"));
    dead.log.record(impression("q"));
    const started = Date.now();
    await dead.log.close(50);
    assert.ok(Date.now() - started < 2_000);
    const unwritten = dead.lines.filter((l) => /not fully written before shutdown/.test(l.msg));
    assert.deepEqual(
      unwritten.map((l) => [l.impression?.id, l.missing]),
      [
        ["p", "table and topic"],
        ["q", "table and topic"],
      ],
    );
    assert.ok(unwritten.every((l) => l.level === 50));
    assert.equal((await dead.outcomes()).unwritten, 2);
  });
});
