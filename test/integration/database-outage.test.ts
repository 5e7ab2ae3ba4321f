import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

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
});
