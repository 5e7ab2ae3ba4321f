import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Message } from "kafkajs";
import type { Config } from "../../src/config";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { endOffsets, json, produce, startBrokerAndDatabase, type TestBroker } from "../support/kafka";
import type { TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

// Kafka gives no order across topics. A producer writes a new member and, at once, that member's
// first interaction, each on its own topic: the interaction may be read first. It must be parked
// until the member arrives, never dead-lettered, stored once, across a gateway restart too.

const PAIRS = 2000;

const member = (id: string) => ({ id, currentPosition: "welder" });
const interaction = (eventId: string, memberId: string) => ({
  eventId,
  memberId,
  itemId: "order-job",
  action: "VIEW",
  occurredAt: "2026-12-01T10:00:00Z",
});

describe("interactions that arrive before their member (real broker, real PostgreSQL)", () => {
  let broker: TestBroker;
  let pg: TestDatabase;
  let config: Config;
  let gw: Gateway;
  /** How many times each interaction was announced to live subscribers (once, when stored). */
  const announced = new Map<string, number>();
  const start = async () => {
    gw = await startGateway(config, undefined, {
      onInteractionsStored: (events) => {
        for (const e of events) announced.set(e.eventId, (announced.get(e.eventId) ?? 0) + 1);
      },
    });
    await gw.ingestion?.joined;
  };

  before(async () => {
    ({ broker, pg } = await startBrokerAndDatabase());
    config = testConfig({ DATABASE_URL: pg.url, KAFKA_BROKERS: broker.brokers.join(",") });
    await start();
    await gw.db.item.create({ data: { id: "order-job", type: "JOB", title: "Welder" } });
  });
  after(async () => {
    await gw?.stop();
    await broker?.cleanup();
    await pg?.drop();
  });

  const storedWith = (prefix: string) =>
    gw.db.interaction.count({ where: { eventId: { startsWith: prefix } } });
  const deadLetters = async () =>
    Object.values(await endOffsets(broker.brokers, config.KAFKA_TOPIC_DLQ)).reduce(
      (n, high) => n + Number(high),
      0,
    );

  /** Pairs `prefix-0..n`: interactions now; members of half the keys now, of the other half after `delayMs`. */
  async function producePairs(prefix: string, delayMs: number): Promise<void> {
    const interactions: Message[] = [];
    const now: Message[] = [];
    const later: Message[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const m = `${prefix}-m${i}`;
      interactions.push(json(m, interaction(`${prefix}-e${i}`, m)));
      (i % 2 === 0 ? now : later).push(json(m, member(m)));
    }
    await Promise.all([
      produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, interactions),
      produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, now),
    ]);
    await new Promise((r) => setTimeout(r, delayMs));
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, later);
  }

  it("parks every interaction whose member comes later and stores each once, none dead-lettered", async () => {
    const letters = await deadLetters();
    // The gauge operators watch: what is parked now, sampled while the members are held back.
    const parkedGauge = async () =>
      Number(/^brewgate_ingest_parked (\d+)/m.exec(await gw.metrics.registry.metrics())?.[1] ?? -1);
    let mostParked = 0;
    const sampler = setInterval(async () => {
      mostParked = Math.max(mostParked, await parkedGauge());
    }, 100);
    try {
      await producePairs("a", 2_000);
      await waitFor("every interaction stored", async () => (await storedWith("a-")) === PAIRS, 60_000);
    } finally {
      clearInterval(sampler);
    }
    await waitFor("nothing left parked", async () => (await gw.db.parkedInteraction.count()) === 0);
    assert.ok(mostParked > 0, "brewgate_ingest_parked showed the interactions waiting");
    await waitFor("brewgate_ingest_parked back to 0", async () => (await parkedGauge()) === 0);
    assert.equal(await storedWith("a-"), PAIRS);
    assert.equal(await deadLetters(), letters);
    const once = [...announced].filter(([id, n]) => id.startsWith("a-") && n === 1).length;
    assert.equal(once, PAIRS, "each announced to live subscribers once");
    const metrics = await gw.metrics.registry.getSingleMetricAsString("brewgate_ingest_events_total");
    const parked = Number(/outcome="parked"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(parked > 0, `some interactions were parked on the way: ${metrics}`);
    const released = Number(
      /topic="brewgate.interactions",outcome="released"\} (\d+)/.exec(metrics)?.[1] ?? 0,
    );
    assert.equal(released, parked, "each parked interaction released once");
  });

  it("keeps parked interactions through a gateway restart: each stored once, none dead-lettered", async () => {
    const letters = await deadLetters();
    const interactions: Message[] = [];
    const members: Message[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const m = `b-m${i}`;
      interactions.push(json(m, interaction(`b-e${i}`, m)));
      members.push(json(m, member(m)));
    }
    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, interactions);
    // Stopped once interactions were parked and before any of their members exists.
    await waitFor(
      "interactions parked",
      async () => (await gw.db.parkedInteraction.count()) >= PAIRS / 2,
      60_000,
    );
    await gw.stop();
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, members);
    await start();
    await waitFor("every interaction stored", async () => (await storedWith("b-")) === PAIRS, 60_000);
    await waitFor("nothing left parked", async () => (await gw.db.parkedInteraction.count()) === 0);
    assert.equal(await deadLetters(), letters);
    const once = [...announced].filter(([id, n]) => id.startsWith("b-") && n === 1).length;
    assert.equal(once, PAIRS, "each announced to live subscribers once");
  });

  it("never lets an older member or item event overwrite a newer one, whatever order they arrive in", async () => {
    const at = (minute: number) => `2026-12-01T10:${String(minute).padStart(2, "0")}:00Z`;
    // Newest first on the same key (one partition, read in this order), then older ones.
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
      json("v-m", { id: "v-m", currentPosition: "staff engineer", updatedAt: at(30) }),
      json("v-m", { id: "v-m", currentPosition: "engineer", updatedAt: at(10) }),
      json("v-m", { id: "v-m", currentPosition: "intern", updatedAt: at(5) }),
    ]);
    await produce(broker.brokers, config.KAFKA_TOPIC_ITEMS, [
      json("v-i", { id: "v-i", type: "JOB", title: "Senior Welder", updatedAt: at(30) }),
      json("v-i", { id: "v-i", type: "JOB", title: "Welder", updatedAt: at(10) }),
    ]);
    // The same id on two keys (two partitions, read in no set order): the newer one stays.
    await Promise.all([
      produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
        json("v-x1", { id: "v-x", currentPosition: "newer", updatedAt: at(20) }),
      ]),
      produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
        json("v-x2", { id: "v-x", currentPosition: "older", updatedAt: at(15) }),
      ]),
    ]);
    // A marker after them on each key: once it is stored, everything before it was read.
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
      json("v-m", { id: "v-m-done" }),
      json("v-x1", { id: "v-x1-done" }),
      json("v-x2", { id: "v-x2-done" }),
    ]);
    await produce(broker.brokers, config.KAFKA_TOPIC_ITEMS, [
      json("v-i", { id: "v-i-done", type: "JOB", title: "x" }),
    ]);
    await waitFor("the markers stored", async () => {
      const [m, i] = await Promise.all([
        gw.db.member.count({ where: { id: { in: ["v-m-done", "v-x1-done", "v-x2-done"] } } }),
        gw.db.item.count({ where: { id: "v-i-done" } }),
      ]);
      return m === 3 && i === 1;
    });
    const m = await gw.db.member.findUniqueOrThrow({ where: { id: "v-m" } });
    assert.equal(m.currentPosition, "staff engineer");
    assert.equal(m.sourceUpdatedAt?.toISOString(), "2026-12-01T10:30:00.000Z");
    assert.equal((await gw.db.item.findUniqueOrThrow({ where: { id: "v-i" } })).title, "Senior Welder");
    assert.equal((await gw.db.member.findUniqueOrThrow({ where: { id: "v-x" } })).currentPosition, "newer");

    // A newer event applies; one without updatedAt applies as it comes (the last read wins).
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
      json("v-m", { id: "v-m", currentPosition: "principal engineer", updatedAt: at(40) }),
      json("v-m", { id: "v-m", location: "Gdansk" }),
    ]);
    await waitFor("the newer event applied", async () => {
      const row = await gw.db.member.findUniqueOrThrow({ where: { id: "v-m" } });
      return row.currentPosition === "principal engineer" && row.location === "Gdansk";
    });
  });

  it("releases a parked interaction when its member is written through GraphQL", async () => {
    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, [json("g-m", interaction("g-e", "g-m"))]);
    await waitFor("the interaction parked", async () => (await gw.db.parkedInteraction.count()) === 1);
    const r = await gql(
      gw.url,
      `mutation { upsertMember(input: {id: "g-m", currentPosition: "welder"}) { id } }`,
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    await waitFor("the interaction stored", async () => (await storedWith("g-e")) === 1, 10_000);
    assert.equal(await gw.db.parkedInteraction.count(), 0);
  });
});
