import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { type GatewayProcess, startGatewayProcess } from "../support/gateway-process";
import { gql } from "../support/graphql";
import { collectLivePredictions as collect } from "../support/live";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { wsClient } from "../support/ws";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

const RECORD = `mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }`;
const event = (id: string, item: string) => ({
  eventId: id,
  memberId: "m1",
  itemId: item,
  action: "VIEW",
  occurredAt: new Date().toISOString(),
});

async function seed(gw: Gateway) {
  await gw.db.member.create({ data: { id: "m1", currentPosition: "nurse", location: "Lyon" } });
  for (let i = 0; i < 6; i++) {
    await gw.db.item.create({
      data: { id: `j${i}`, type: "JOB", title: `Nurse ${i}`, company: `Clinic ${i}`, location: "Lyon" },
    });
  }
}

describe("livePredictions subscription", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
  });
  after(async () => {
    await sidecar?.stop();
    await pg?.drop();
  });

  it("pushes the current ranking, then a re-scored one with the new interaction in the prompt", async () => {
    const gw = await startGateway(
      testConfig({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address }),
    );
    const client = wsClient(gw.url);
    try {
      await seed(gw);
      const sub = collect(client, { m: "m1", c: ["j0", "j1", "j2"] });
      await sub.waitFor(1);
      assert.equal(sub.pushes[0].reason, "INITIAL");
      assert.equal(sub.pushes[0].ranking.historyUsed, 0);
      const r = await gql(gw.url, RECORD, { e: [event("live-1", "j5")] });
      assert.equal(r.errors, undefined);
      await sub.waitFor(2);
      assert.equal(sub.pushes[1].reason, "INTERACTION");
      assert.deepEqual(sub.pushes[1].eventIds, ["live-1"]);
      assert.equal(sub.pushes[1].ranking.historyUsed, 1);
      // A new prompt gives new probabilities.
      assert.notDeepEqual(sub.pushes[1].ranking.items, sub.pushes[0].ranking.items);
      // A duplicate event stores nothing and pushes nothing.
      await gql(gw.url, RECORD, { e: [event("live-1", "j5")] });
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(sub.pushes.length, 2);
      await sub.stop();
    } finally {
      await client.dispose();
      await gw.stop();
      await gw.db.interaction.deleteMany();
      await gw.db.impression.deleteMany();
      await gw.db.item.deleteMany();
      await gw.db.member.deleteMany();
    }
  });

  it("fans out through Redis: an interaction recorded on one gateway process reaches a subscriber of another", async () => {
    const redis = new Redis(REDIS_URL);
    await redis.ping();
    await redis.quit();
    const env = {
      DATABASE_URL: pg.url,
      MODEL_DIR: testModel(),
      INFERENCE_ADDRESSES: sidecar.address,
      REDIS_URL,
    };
    let a: GatewayProcess | undefined;
    let b: GatewayProcess | undefined;
    try {
      [a, b] = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
      assert.notEqual(a.url, b.url);
      await gql(a.url, `mutation { upsertMember(input: {id: "m1", currentPosition: "nurse"}) { id } }`);
      for (const id of ["j0", "j1"]) {
        await gql(a.url, `mutation($i: ItemInput!) { upsertItem(input: $i) { id } }`, {
          i: { id, type: "JOB", title: `Job ${id}` },
        });
      }
      const client = wsClient(a.url);
      try {
        const sub = collect(client, { m: "m1", c: ["j0", "j1"] });
        await sub.waitFor(1);
        const r = await gql(b.url, RECORD, { e: [event("via-b", "j1")] });
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        await sub.waitFor(2);
        assert.deepEqual(sub.pushes[1].eventIds, ["via-b"]);
        assert.equal(sub.pushes[1].ranking.historyUsed, 1);
        await sub.stop();
      } finally {
        await client.dispose();
      }
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
    }
  });
});
