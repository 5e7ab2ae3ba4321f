import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Gateway, startGateway } from "../../src/gateway";
import { toImpression } from "../../src/ranking/impression";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { waitFor } from "../support/wait";

describe("database outage (real PostgreSQL behind a link the test cuts)", () => {
  let pg: TestDatabase;
  let proxy: TcpProxy;
  let gw: Gateway;
  before(async () => {
    pg = await createTestDatabase();
    const url = new URL(pg.url);
    proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    url.host = `127.0.0.1:${proxy.port}`;
    gw = await startGateway(
      testConfig({
        DATABASE_URL: url.toString(),
        DATABASE_CONNECT_TIMEOUT_MS: "2000",
        TOKENIZER_PATH: join(testModel(), "tokenizer.json"),
      }),
    );
    await gw.db.member.create({ data: { id: "m1", currentPosition: "engineer" } });
    await gw.db.item.create({ data: { id: "j1", type: "JOB", title: "Engineer" } });
  });
  after(async () => {
    await gw?.stop();
    await proxy?.close();
    await pg?.drop();
  });

  // One query on the model API (Prisma), one on the prompt path's plain SQL.
  const both = `{ member(id: "m1") { id } }`;
  const prompt = `{ prompt(memberId: "m1", task: "job_apply", candidateIds: ["j1"]) { historyUsed } }`;

  it("answers UNAVAILABLE while the database cannot be reached, stays up, and recovers", async () => {
    assert.deepEqual((await gql(gw.url, both)).data, { member: { id: "m1" } });
    assert.equal((await gql(gw.url, prompt)).errors, undefined);

    await proxy.down();
    for (const query of [both, prompt]) {
      const r = await gql(gw.url, query);
      assert.equal(r.errors?.length, 1, JSON.stringify(r));
      assert.equal(r.errors?.[0].extensions?.code, "UNAVAILABLE");
      assert.match(r.errors?.[0].message ?? "", /database is unavailable/);
      // Where the database lives is for the log, not the client.
      assert.doesNotMatch(JSON.stringify(r.errors), /127\.0\.0\.1|ECONNREFUSED/);
    }
    const base = gw.url.replace(/\/graphql$/, "");
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);

    await proxy.up();
    assert.deepEqual((await gql(gw.url, both)).data, { member: { id: "m1" } });
    assert.equal((await gql(gw.url, prompt)).errors, undefined);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });

  it("keeps impressions served before a cut, stores each once when the database is back, and logs a refused row", async () => {
    const shown = (memberId: string) =>
      toImpression({
        requestId: `req-${memberId}`,
        memberId,
        taskName: "job_apply",
        model: "test-model",
        promptVersion: "test-prompt",
        candidates: [{ itemId: "j1", rank: 1, score: 0.25, actions: [] }],
      });
    await proxy.down();
    // A member deleted between the ranking and the write: the real server refuses that row (a
    // foreign key), not the batch, and not for want of a connection.
    const batch = [shown("m1"), shown("deleted-member"), shown("m1")];
    for (const impression of batch) gw.impressions.record(impression);
    // Some attempts fail while the link is down; nothing is dropped.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(gw.impressions.pending, 3);

    await proxy.up();
    await waitFor("the queued impressions to be written", async () => gw.impressions.pending === 0);
    const rows = await gw.db.impression.findMany({ where: { id: { in: batch.map((i) => i.id) } } });
    assert.deepEqual(rows.map((r) => r.id).sort(), [batch[0].id, batch[2].id].sort());
    assert.deepEqual(rows.find((r) => r.id === batch[0].id)?.candidates, batch[0].candidates);
    const outcomes = (await gw.metrics.impressions.get()).values;
    assert.equal(outcomes.find((v) => v.labels.outcome === "refused")?.value, 1);
    assert.equal(outcomes.find((v) => v.labels.outcome === "stored")?.value, 2);
  });
});
