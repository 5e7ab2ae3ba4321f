import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Client } from "graphql-ws";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { json, produce, readTopic, startBrokerAndDatabase, type TestBroker } from "../support/kafka";
import { collectLivePredictions } from "../support/live";
import { testModel } from "../support/models";
import type { TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { waitFor } from "../support/wait";
import { wsClient } from "../support/ws";

describe("end to end: Kafka interactions change the next ranking and reach live subscribers", () => {
  let broker: TestBroker;
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  let client: Client;
  before(async () => {
    [{ broker, pg }, sidecar] = await Promise.all([startBrokerAndDatabase(), startTestSidecar()]);
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        KAFKA_BROKERS: broker.brokers.join(","),
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: sidecar.address,
      }),
    );
    await gw.ingestion?.joined;
    client = wsClient(gw.url);
  });
  after(async () => {
    await client?.dispose();
    await gw?.stop();
    await sidecar?.stop();
    await broker?.cleanup();
    await pg?.drop();
  });

  it("stores a produced interaction, puts it in the prompt, pushes a new ranking and publishes impressions", async () => {
    const config = testConfig();
    await produce(broker.brokers, config.KAFKA_TOPIC_MEMBERS, [
      json("ana", {
        id: "ana",
        currentPosition: "software engineer",
        currentCompany: "Google",
        location: "Sunnyvale, California",
      }),
    ]);
    await produce(
      broker.brokers,
      config.KAFKA_TOPIC_ITEMS,
      ["meta", "amd", "apple"].map((c) =>
        json(c, { id: c, type: "JOB", title: "Software Engineer", company: c.toUpperCase(), country: "USA" }),
      ),
    );
    const prompt = `{ prompt(memberId: "ana", task: "job_apply", candidateIds: ["apple"]) { prefixText historyUsed } }`;
    await waitFor(
      "the member and items stored",
      async () => (await gw.db.item.count()) === 3 && (await gw.db.member.count()) === 1,
    );

    const live = collectLivePredictions(client, { m: "ana", c: ["apple", "amd"] });
    await live.waitFor(1);
    assert.equal(live.pushes[0].ranking.historyUsed, 0);

    await produce(broker.brokers, config.KAFKA_TOPIC_INTERACTIONS, [
      json("ana", {
        eventId: "k-1",
        memberId: "ana",
        itemId: "meta",
        action: "APPLY",
        occurredAt: "2026-11-30T09:00:00Z",
      }),
    ]);
    await live.waitFor(2, 30_000);
    assert.equal(live.pushes[1].reason, "INTERACTION");
    assert.deepEqual(live.pushes[1].eventIds, ["k-1"]);
    assert.equal(live.pushes[1].ranking.historyUsed, 1);
    assert.notDeepEqual(live.pushes[1].ranking.items, live.pushes[0].ranking.items);
    await live.stop();

    const after = await gql<{ prompt: { prefixText: string } }>(gw.url, prompt);
    assert.match(
      after.data?.prompt.prefixText ?? "",
      /Member has applied to the following jobs: \[Title: Software Engineer, Country: USA, Company: META\]/,
    );

    // Every served ranking (the two pushes) is on the impressions topic, keyed by member.
    const impressions = await readTopic(broker.brokers, config.KAFKA_TOPIC_IMPRESSIONS, 2);
    const requestIds = impressions.map((m) => JSON.parse(String(m.value)).requestId).sort();
    assert.deepEqual(requestIds, live.pushes.map((p) => p.ranking.requestId).sort());
    assert.ok(impressions.every((m) => String(m.key) === "ana"));
  });

  it("keeps ranking while the broker is down, and publishes those impressions once it is back", async () => {
    const config = testConfig();
    const rec = `{ recommendations(memberId: "ana", task: "job_apply", candidateIds: ["apple", "amd"]) { requestId impressionId } }`;
    await broker.stop();
    let down = true;
    try {
      const r = await gql<{ recommendations: { requestId: string; impressionId: string } }>(gw.url, rec);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      const served = r.data?.recommendations;
      assert.ok(served);
      // The table does not wait for the broker.
      await waitFor("the impression stored while the broker is down", async () =>
        Boolean(await gw.db.impression.findUnique({ where: { id: served.impressionId } })),
      );
      assert.equal(gw.impressions.pending, 1);
      await broker.restart();
      down = false;
      await waitFor("the impression published", async () => gw.impressions.pending === 0, 60_000);
      // The two pushes of the test before, then this one.
      const impressions = await readTopic(broker.brokers, config.KAFKA_TOPIC_IMPRESSIONS, 3);
      const published = impressions.map(
        (m) => JSON.parse(String(m.value)) as { id: string; requestId: string },
      );
      const mine = published.filter((i) => i.id === served.impressionId);
      assert.ok(mine.length >= 1, JSON.stringify(published));
      assert.equal(mine[0].requestId, served.requestId);
    } finally {
      if (down) await broker.restart();
    }
  });
});
