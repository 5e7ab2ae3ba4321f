import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Config } from "../../src/config";
import type { InteractionEvent } from "../../src/domain/events";
import { type Gateway, startGateway } from "../../src/gateway";
import { DLQ_HEADERS } from "../../src/ingest/dead-letter";
import { REPLAYED_FROM_HEADER } from "../../src/ingest/replay";
import { testConfig } from "../support/config";
import {
  committedOffsets,
  committedToEnd,
  endOffsets,
  header,
  json,
  produce,
  readTopic,
  startBrokerAndDatabase,
  type TestBroker,
} from "../support/kafka";
import { REPO_ROOT } from "../support/models";
import type { TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

const interaction = (eventId: string, memberId = "m1", itemId = "j1") => ({
  eventId,
  memberId,
  itemId,
  action: "APPLY",
  occurredAt: "2026-11-01T10:00:00Z",
});

describe("Kafka ingestion (real broker, real PostgreSQL)", () => {
  let broker: TestBroker;
  let pg: TestDatabase;
  let config: Config;
  let gw: Gateway;
  const seen: InteractionEvent[] = [];

  const countInteractions = async (where: Record<string, unknown> = {}) => gw.db.interaction.count({ where });
  const stored = (eventId: string) => async () => (await countInteractions({ eventId })) > 0;
  const start = async () => {
    gw = await startGateway(config, undefined, {
      onInteractionsStored: (events) => {
        seen.push(...events);
      },
    });
    await gw.ingestion?.joined;
  };

  before(async () => {
    ({ broker, pg } = await startBrokerAndDatabase());
    config = testConfig({
      DATABASE_URL: pg.url,
      KAFKA_BROKERS: broker.brokers.join(","),
      // Interactions naming an unknown member or item wait this long before their dead letter.
      INGEST_PARK_MAX_MS: "1000",
    });
    await start();
  });
  after(async () => {
    await gw?.stop();
    await broker?.cleanup();
    await pg?.drop();
  });

  it("stores members, items and interactions, tells listeners, and reports readiness", async () => {
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
      json("m1", { id: "m1", currentPosition: "software engineer", skills: ["Go"] }),
      json("m2", { id: "m2", location: "Sunnyvale" }),
    ]);
    await produce(broker.brokers, config.KAFKA_TOPIC_ITEMS, [
      json("j1", { id: "j1", type: "JOB", title: "Backend engineer", attributes: { remote: true } }),
      json("j2", { id: "j2", type: "JOB", title: "Data engineer", postedAt: "2026-10-01T08:00:00Z" }),
    ]);
    await waitFor(
      "members and items",
      async () => (await gw.db.item.count()) === 2 && (await gw.db.member.count()) === 2,
    );
    const member = await gw.db.member.findUniqueOrThrow({ where: { id: "m1" } });
    assert.deepEqual(member.skills, ["Go"]);
    // An item event's posting time is the item's createdAt.
    const j2 = await gw.db.item.findUniqueOrThrow({ where: { id: "j2" } });
    assert.equal(j2.createdAt.toISOString(), "2026-10-01T08:00:00.000Z");

    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, [
      json("m1", interaction("e1", "m1", "j1")),
      json("m2", {
        ...interaction("e2", "m2", "j2"),
        action: "VIEW",
        surface: "feed",
        impressionId: "imp-9",
      }),
    ]);
    await waitFor("two interactions", async () => (await countInteractions()) === 2);
    const e2 = await gw.db.interaction.findUniqueOrThrow({ where: { eventId: "e2" } });
    assert.equal(e2.action, "VIEW");
    assert.equal(e2.surface, "feed");
    assert.equal(e2.impressionId, "imp-9");
    assert.equal(
      (await gw.db.interaction.findUniqueOrThrow({ where: { eventId: "e1" } })).impressionId,
      null,
    );
    assert.equal(e2.occurredAt.toISOString(), "2026-11-01T10:00:00.000Z");
    await waitFor("listener call", async () => seen.length === 2);
    assert.deepEqual(seen.map((e) => e.eventId).sort(), ["e1", "e2"]);

    const base = gw.url.replace(/\/graphql$/, "");
    const ready = await fetch(`${base}/readyz`);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok", kafka: "ok" } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /brewgate_ingest_events_total\{topic="brewgate.interactions",outcome="stored"\} 2/);
    assert.match(metrics, /brewgate_ingest_consumer_lag\{topic="brewgate.interactions",partition="\d+"\} 0/);
  });

  it("stores an interaction delivered several times once", async () => {
    // Different keys put the copies on different partitions, so they are written concurrently.
    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, [
      json("a", interaction("dup-1")),
      json("a", interaction("dup-1")),
      json("b", interaction("dup-1")),
      json("c", interaction("dup-1")),
    ]);
    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, [json("a", interaction("after-dup"))]);
    await waitFor("the event after the copies", stored("after-dup"));
    await waitFor("all copies handled", async () => {
      const text = await gw.metrics.registry.getSingleMetricAsString("brewgate_ingest_events_total");
      return /outcome="duplicate"\} 3/.test(text);
    });
    assert.equal(await countInteractions({ eventId: "dup-1" }), 1);
    assert.equal(seen.filter((e) => e.eventId === "dup-1").length, 1);
  });

  it("dead-letters malformed, invalid and unknown-reference events with the reason and keeps going", async () => {
    const topic = config.KAFKA_TOPIC_INTERACTIONS;
    const bad = [
      { key: "k-json", value: '{"eventId": "x1", oops' },
      json("k-schema", { ...interaction("x2"), occurredAt: "yesterday" }),
      json("k-member", interaction("x3", "nobody", "j1")),
      json("k-item", interaction("x4", "m1", "no-such-item")),
    ];
    // All on one partition, in order, followed by a good event: the consumer must pass them.
    await produce(
      broker.brokers,
      topic,
      [...bad, json("k-good", interaction("after-bad"))].map((m) => ({ ...m, partition: 1 })),
    );
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [{ key: "m-bad", value: "not json" }]);
    await waitFor("the event after the bad ones", stored("after-bad"));

    const letters = await readTopic(broker.brokers, config.KAFKA_TOPIC_DLQ, 5);
    const byKey = new Map(letters.map((m) => [m.key?.toString(), m]));
    const reason = (key: string) => header(byKey.get(key)?.headers, DLQ_HEADERS.reason);
    assert.match(reason("k-json") ?? "", /^invalid JSON: /);
    assert.match(reason("k-schema") ?? "", /^invalid event: occurredAt: /);
    assert.equal(reason("k-member"), "unknown member 'nobody'");
    assert.equal(reason("k-item"), "unknown item 'no-such-item'");
    assert.match(reason("m-bad") ?? "", /^invalid JSON: /);
    assert.equal(header(byKey.get("m-bad")?.headers, DLQ_HEADERS.topic), config.KAFKA_TOPIC_MEMBERS);

    // The original value, key and source position travel with each dead letter.
    const jsonLetter = byKey.get("k-json");
    assert.equal(jsonLetter?.value?.toString(), bad[0].value);
    assert.equal(header(jsonLetter?.headers, DLQ_HEADERS.topic), topic);
    assert.equal(header(jsonLetter?.headers, DLQ_HEADERS.partition), "1");
    const offsets = ["k-json", "k-schema", "k-member", "k-item"].map((k) =>
      Number(header(byKey.get(k)?.headers, DLQ_HEADERS.offset)),
    );
    assert.deepEqual(
      offsets,
      offsets.map((_, i) => offsets[0] + i),
      "source offsets are consecutive",
    );
    for (const id of ["x1", "x2", "x3", "x4"]) assert.equal(await countInteractions({ eventId: id }), 0);
  });

  it("npm run dlq: lists dead letters and replays them to their topic once, key and headers kept", async () => {
    // x3 was dead-lettered above for its unknown member; the member exists now.
    await gw.db.member.create({ data: { id: "nobody", currentPosition: "late" } });
    const env = {
      KAFKA_BROKERS: broker.brokers.join(","),
      DATABASE_URL: pg.url,
      KAFKA_TOPIC_DLQ: config.KAFKA_TOPIC_DLQ,
    };
    const listed = await dlq(["list", "--reason", "unknown member"], env);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trim().split("\n");
    assert.equal(lines.length, 1, listed.stdout);
    assert.match(lines[0], /^\d+:\d+\t\S+\tbrewgate\.interactions\tk-member\tunknown member 'nobody'$/);

    // --since filters by when the event was produced: none of these is from the future.
    const future = await dlq(["list", "--since", "2100-01-01T00:00:00Z"], env);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, "");
    const since = await dlq(["list", "--reason", "unknown member", "--since", "2000-01-01T00:00:00Z"], env);
    assert.equal(since.stdout.trim().split("\n").length, 1, since.stdout);

    const replay = await dlq(["replay", "--reason", "unknown member"], env);
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout), { matched: 1, replayed: 1, skipped: 0 });
    await waitFor("the replayed interaction stored", stored("x3"));
    const ends = await endOffsets(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS);
    const all = await readTopic(
      broker.brokers,
      config.KAFKA_TOPIC_INTERACTIONS,
      Object.values(ends).reduce((n, high) => n + Number(high), 0),
    );
    const copies = all.filter((m) => header(m.headers, REPLAYED_FROM_HEADER) !== undefined);
    assert.equal(copies.length, 1);
    assert.equal(copies[0].key?.toString(), "k-member");
    assert.equal(header(copies[0].headers, DLQ_HEADERS.reason), undefined, "the x-dlq-* headers are dropped");
    assert.equal(JSON.parse(copies[0].value?.toString() ?? "").eventId, "x3");
    const again = await dlq(["replay", "--reason", "unknown member"], env);
    assert.deepEqual(JSON.parse(again.stdout), { matched: 1, replayed: 0, skipped: 1 });
    assert.equal(await countInteractions({ eventId: "x3" }), 1);
    const metrics = await gw.metrics.registry.getSingleMetricAsString("brewgate_ingest_events_total");
    assert.match(metrics, /topic="brewgate.interactions",outcome="replayed"\} 1/);

    const bad = await dlq(["purge"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected a command: list or replay/);
  });

  it("does not commit a batch the database refused, and stores it once the database is back", async () => {
    const topic = config.KAFKA_TOPIC_INTERACTIONS;
    await waitFor("everything so far committed", () =>
      committedToEnd(broker.brokers, config.KAFKA_GROUP_ID, topic),
    );
    const before = await committedOffsets(broker.brokers, config.KAFKA_GROUP_ID, topic);
    // A real database failure: the table the insert needs is gone for a while.
    await gw.db.$executeRawUnsafe('ALTER TABLE "Interaction" RENAME TO "InteractionAway"');
    try {
      await produce(broker.brokers, topic, [{ ...json("r", interaction("during-outage")), partition: 2 }]);
      await new Promise((r) => setTimeout(r, 3000));
      const during = await committedOffsets(broker.brokers, config.KAFKA_GROUP_ID, topic);
      assert.deepEqual(during, before, "no offset moves while the write fails");
    } finally {
      await gw.db.$executeRawUnsafe('ALTER TABLE "InteractionAway" RENAME TO "Interaction"');
    }
    await waitFor("the event written after the outage", stored("during-outage"), 60_000);
    await waitFor("its offset committed", async () => {
      const after = await committedOffsets(broker.brokers, config.KAFKA_GROUP_ID, topic);
      return BigInt(after[2]) === BigInt(before[2]) + 1n;
    });
    assert.equal(await countInteractions({ eventId: "during-outage" }), 1);
  });

  it("resumes after a restart of the gateway from the committed offsets, losing and repeating nothing", async () => {
    const topic = config.KAFKA_TOPIC_INTERACTIONS;
    const first = Array.from({ length: 300 }, (_, i) => json(`k${i % 7}`, interaction(`r-${i}`)));
    await produce(broker.brokers, topic, first);
    await waitFor(
      "the first 300",
      async () => (await countInteractions({ eventId: { startsWith: "r-" } })) === 300,
    );
    await gw.stop();

    // Produced while no consumer runs: only committed offsets say where to start.
    const second = Array.from({ length: 300 }, (_, i) => json(`k${i % 7}`, interaction(`r-${300 + i}`)));
    await produce(broker.brokers, topic, second);
    const listenedBefore = seen.length;
    await start();
    await waitFor(
      "all 600",
      async () => (await countInteractions({ eventId: { startsWith: "r-" } })) === 600,
    );
    await waitFor("offsets committed to the end", () =>
      committedToEnd(broker.brokers, config.KAFKA_GROUP_ID, topic),
    );
    // Only the second 300 were new after the restart: the first were not delivered again.
    const again = seen.slice(listenedBefore).map((e) => e.eventId);
    assert.equal(again.length, 300);
    assert.ok(again.every((id) => Number(id.slice(2)) >= 300));
    const metrics = await gw.metrics.registry.getSingleMetricAsString("brewgate_ingest_events_total");
    assert.doesNotMatch(metrics, /outcome="duplicate"\} [1-9]/);
  });

  it("stops mid-stream with every committed event stored, and stores the rest once after the restart", async (t) => {
    const topic = config.KAFKA_TOPIC_INTERACTIONS;
    const total = 20_000;
    const committedSum = async () =>
      Object.values(await committedOffsets(broker.brokers, config.KAFKA_GROUP_ID, topic)).reduce(
        (sum, o) => sum + Math.max(0, Number(o)),
        0,
      );
    const mine = () => countInteractions({ eventId: { startsWith: "stop-" } });
    await waitFor("everything so far committed", () =>
      committedToEnd(broker.brokers, config.KAFKA_GROUP_ID, topic),
    );
    const committedBefore = await committedSum();

    const events = Array.from({ length: total }, (_, i) => json(`k${i % 11}`, interaction(`stop-${i}`)));
    for (let i = 0; i < total; i += 5000) await produce(broker.brokers, topic, events.slice(i, i + 5000));
    await waitFor("the first events stored", async () => (await mine()) > 0);
    await gw.stop();

    // Offsets move only after the rows are in: nothing committed can be missing.
    const committed = (await committedSum()) - committedBefore;
    const storedAtStop = await mine();
    t.diagnostic(`stopped with ${storedAtStop} of ${total} stored and ${committed} committed`);
    assert.ok(committed <= storedAtStop, `committed ${committed} events but only ${storedAtStop} are stored`);

    await start();
    await waitFor("all events stored", async () => (await mine()) === total, 60_000);
    await waitFor("offsets committed to the end", () =>
      committedToEnd(broker.brokers, config.KAFKA_GROUP_ID, topic),
    );
    const [{ rows, ids }] = await gw.db.$queryRaw<{ rows: bigint; ids: bigint }[]>`
      SELECT count(*) AS rows, count(DISTINCT "eventId") AS ids FROM "Interaction" WHERE "eventId" LIKE 'stop-%'`;
    assert.equal(Number(rows), total);
    assert.equal(Number(ids), total);
  });
});

/** Runs `npm run dlq`'s script with these variables; its exit code and output. */
function dlq(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, "dist", "scripts", "dlq.js"), ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null;
        resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr });
      },
    );
  });
}
