import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { describeTopology, startTopology, type Topology } from "../../dev/topology";
import { bearer, gql, gqlResponse } from "../support/graphql";
import { json, produce } from "../support/kafka";
import { collectLivePredictions } from "../support/live";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";
import { wsClient } from "../support/ws";

// `npm run topology` (dev/topology.ts): two gateway processes configured by k8s/base/gateway.env,
// two sidecars, a Kafka broker, Redis and PostgreSQL, checked through the doors users and
// producers use: GraphQL over HTTP with the printed tokens, graphql-ws subscriptions, the Kafka
// interactions topic; then a sidecar is killed, and the topology is stopped.

const RANK = `query($m: ID!, $c: [ID!]) { recommendations(memberId: $m, task: "job_apply", candidateIds: $c, first: 5) {
  requestId model items { itemId score } } }`;
const RECORD = `mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }`;
/** Demo jobs (dev/marketplace.ts names them job-1, job-2, ...). */
const CANDIDATES = Array.from({ length: 10 }, (_, i) => `job-${i + 1}`);
/** Run-unique event ids, so a rerun against a kept database stores (and pushes) them anew. */
const run = randomBytes(4).toString("hex");

const interaction = (eventId: string, itemId: string) => ({
  eventId,
  memberId: "member-1",
  itemId,
  action: "VIEW",
  occurredAt: new Date().toISOString(),
});

/** Interactions a gateway stored from Kafka, from its /metrics. */
async function storedFromKafka(graphqlUrl: string, topic: string): Promise<number> {
  const text = await (await fetch(graphqlUrl.replace(/\/graphql$/, "/metrics"))).text();
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("brewgate_ingest_events_total{") &&
        l.includes(`topic="${topic}"`) &&
        l.includes('outcome="stored"'),
    );
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

/** The sidecar whose log has a finished Score call for `requestId` (its `score id=...` line). */
function servedBy(topology: Topology, requestId: string): string | null {
  for (const s of topology.sidecars) {
    if (readFileSync(s.logFile, "utf8").includes(`score id=${requestId} `)) return s.name;
  }
  return null;
}

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
};

describe("the local production topology (npm run topology)", () => {
  let pg: TestDatabase;
  let dataDir: string;
  let topology: Topology;

  before(async () => {
    // Not migrated: the topology migrates and seeds it, as it does brewgate_topology.
    pg = await createTestDatabase(false);
    dataDir = await mkdtemp(join(tmpdir(), "brewgate-topology-"));
    topology = await startTopology({ dataDir, databaseUrl: pg.url });
  });
  after(async () => {
    await topology?.stop();
    // Should stop() leave one behind (the last test says so), it must not keep this file's
    // process waiting for it until the runner's timeout.
    for (const pid of topology?.pids() ?? []) if (!gone(pid)) process.kill(pid, "SIGKILL");
    await pg?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("ranks through gateway A and gateway B with the printed tokens, and refuses a caller without one", async () => {
    const [a, b] = topology.gateways;
    assert.notEqual(a.url, b.url);
    // The manifest's settings reach the processes: production, so authentication is required.
    assert.equal(a.env.NODE_ENV, "production");
    const banner = describeTopology(topology);
    for (const text of [a.url, b.url, topology.tokens.member, topology.tokens.service]) {
      assert.ok(banner.includes(text), `the banner names ${text}`);
    }
    for (const g of [a, b]) {
      const none = await gqlResponse(g.url, RANK, { m: "member-1", c: CANDIDATES });
      assert.equal(none.status, 401, `${g.name} without a token: ${JSON.stringify(none.body)}`);
      assert.equal(none.body.errors?.[0]?.extensions?.code, "UNAUTHENTICATED");
      const ranked = await gqlResponse<{ recommendations: { items: unknown[] } }>(
        g.url,
        RANK,
        { m: "member-1", c: CANDIDATES },
        bearer(topology.tokens.member),
      );
      assert.equal(ranked.status, 200, `${g.name}: ${JSON.stringify(ranked.body)}`);
      assert.equal(ranked.body.errors, undefined);
      assert.equal(ranked.body.data?.recommendations.items.length, 5);
    }
  });

  it("pushes a live prediction on gateway B for an interaction recorded through gateway A (through Redis)", async () => {
    const [a, b] = topology.gateways;
    const client = wsClient(b.url, { authorization: `Bearer ${topology.tokens.member}` });
    try {
      const sub = collectLivePredictions(client, { m: "member-1", c: CANDIDATES.slice(0, 3) });
      await sub.waitFor(1, 30_000);
      assert.equal(sub.pushes[0].reason, "INITIAL");
      const eventId = `topology-via-a-${run}`;
      const recorded = await gql(
        a.url,
        RECORD,
        { e: [interaction(eventId, "job-7")] },
        bearer(topology.tokens.member),
      );
      assert.deepEqual(recorded, { data: { recordInteractions: { stored: 1 } } });
      await sub.waitFor(2, 15_000);
      assert.equal(sub.pushes[1].reason, "INTERACTION");
      assert.deepEqual(sub.pushes[1].eventIds, [eventId]);
      await sub.stop();
    } finally {
      await client.dispose();
    }
  });

  it("ingests the Kafka interactions topic on both replicas (one consumer group) and pushes every event to a subscriber of gateway B", async () => {
    const [a, b] = topology.gateways;
    const topic = topology.kafka.topics.interactions;
    const partitions = Number(a.env.KAFKA_TOPIC_PARTITIONS);
    const before = [await storedFromKafka(a.url, topic), await storedFromKafka(b.url, topic)];
    const client = wsClient(b.url, { authorization: `Bearer ${topology.tokens.member}` });
    try {
      const sub = collectLivePredictions(client, { m: "member-1", c: CANDIDATES.slice(0, 3) });
      await sub.waitFor(1, 30_000);
      // One event on every partition: each gateway of the group owns some of them, so gateway A
      // stores some, and those reach B's subscriber only through Redis.
      const ids = Array.from({ length: partitions }, (_, p) => `topology-kafka-${run}-${p}`);
      await produce(
        topology.kafka.brokers,
        topic,
        ids.map((id, p) => ({ ...json("member-1", interaction(id, `job-${p + 1}`)), partition: p })),
      );
      const pushed = () => new Set(sub.pushes.flatMap((push) => push.eventIds));
      await waitFor(
        `pushes on gateway B for all ${partitions} events (got ${[...pushed()].join(", ")})`,
        async () => ids.every((id) => pushed().has(id)),
        30_000,
      );
      await sub.stop();
    } finally {
      await client.dispose();
    }
    const stored = [
      (await storedFromKafka(a.url, topic)) - before[0],
      (await storedFromKafka(b.url, topic)) - before[1],
    ];
    assert.equal(stored[0] + stored[1], partitions, `stored by A, B: ${stored}`);
    assert.ok(stored[0] > 0 && stored[1] > 0, `both replicas consume (stored by A, B: ${stored})`);
  });

  it("keeps every ranking through both gateways when a sidecar is killed", async () => {
    const [a, b] = topology.gateways;
    const [victim, survivor] = topology.sidecars;
    const members = Array.from({ length: 20 }, (_, i) => `member-${i + 1}`);
    const rankAll = async () => {
      const requestIds: string[] = [];
      const failures: string[] = [];
      for (const [i, m] of members.entries()) {
        const g = i % 2 === 0 ? a : b;
        const r = await gql<{ recommendations: { requestId: string; items: unknown[] } }>(
          g.url,
          RANK,
          { m, c: CANDIDATES },
          bearer(topology.tokens.service),
        );
        if (r.errors || r.data?.recommendations.items.length !== 5) {
          failures.push(`${g.name} ${m}: ${JSON.stringify(r.errors ?? r.data)}`);
        } else requestIds.push(r.data.recommendations.requestId);
      }
      return { requestIds, failures };
    };

    // Both sidecars of INFERENCE_ADDRESSES serve: members are spread over them.
    const first = await rankAll();
    assert.deepEqual(first.failures, []);
    const sidecarOf = new Map<string, string | null>();
    await waitFor(
      "every ranking's Score call in a sidecar's log",
      async () => {
        for (const id of first.requestIds) sidecarOf.set(id, servedBy(topology, id));
        return [...sidecarOf.values()].every((s) => s !== null);
      },
      10_000,
    );
    const served = [...sidecarOf.values()];
    assert.ok(
      served.includes(victim.name) && served.includes(survivor.name),
      `both sidecars served (${served.join(", ")})`,
    );

    victim.process.process.kill("SIGKILL");
    await victim.exited;
    const second = await rankAll();
    assert.deepEqual(second.failures, [], "no ranking lost after the sidecar died");
    assert.equal(second.requestIds.length, members.length);
    await waitFor(
      `every ranking scored by ${survivor.name}`,
      async () => second.requestIds.every((id) => servedBy(topology, id) === survivor.name),
      10_000,
    );
  });

  it("stops the gateways, then the sidecars, the broker and Redis, and leaves no process behind", async () => {
    const [a, b] = topology.gateways;
    const survivor = topology.sidecars[1];
    const pids = topology.pids();
    // Among them: 2 gateways, 2 sidecars (one already killed), the broker's JVM, redis-server.
    assert.equal(pids.length, 6);
    const watched = {
      gateways: [a.pid, b.pid],
      sidecar: [survivor.pid],
      broker: [topology.kafka.pid],
      redis: [topology.redis.pid ?? -1],
    };
    const goneAt: Record<string, number> = {};
    const record = () => {
      for (const [part, list] of Object.entries(watched)) {
        if (goneAt[part] === undefined && list.every(gone)) goneAt[part] = Date.now();
      }
    };
    const poll = setInterval(record, 10);
    const report = await topology.stop();
    // A process that has just exited is reaped on this process's next turns of the event loop.
    await waitFor("every process gone", async () => pids.every(gone), 2_000).catch(() => undefined);
    clearInterval(poll);
    record();
    assert.deepEqual(report, { clean: true, problems: [] });
    const left = pids.filter((pid) => !gone(pid));
    assert.deepEqual(left, [], "processes still running after stop()");
    assert.ok(
      goneAt.gateways <= goneAt.sidecar && goneAt.sidecar <= goneAt.broker && goneAt.broker <= goneAt.redis,
      `stopped in order: ${JSON.stringify(goneAt)}`,
    );
    await assert.rejects(fetch(a.url.replace(/\/graphql$/, "/healthz")), "gateway A no longer answers");
  });
});
