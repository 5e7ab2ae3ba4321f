import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Gateway, startGateway } from "../../src/gateway";
import { printSchemaSdl } from "../../src/server/sdl";
import { testConfig } from "../support/config";
import { gql } from "../support/graphql";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

describe("GraphQL API (real PostgreSQL)", () => {
  let pg: TestDatabase;
  let gw: Gateway;
  before(async () => {
    pg = await createTestDatabase(false);
    gw = await startGateway(testConfig({ DATABASE_URL: pg.url }));
  });
  after(async () => {
    await gw.stop();
    await pg.drop();
  });

  it("serves health, readiness and metrics", async () => {
    const base = gw.url.replace(/\/graphql$/, "");
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok" } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /brewgate_graphql_requests_total/);
    // The process metrics too, event-loop delay among them.
    assert.match(metrics, /^brewgate_nodejs_eventloop_lag_p99_seconds \d/m);
    assert.match(metrics, /^brewgate_process_cpu_seconds_total \d/m);
  });

  it("upserts and reads members, keeping fields left out and clearing fields set to null", async () => {
    const up = await gql(
      gw.url,
      `mutation($m: MemberInput!) { upsertMember(input: $m) { id currentPosition skills yearsOfExperience } }`,
      {
        m: {
          id: "m1",
          currentPosition: "software engineer",
          currentCompany: "Google",
          skills: ["Go"],
          yearsOfExperience: 5,
        },
      },
    );
    assert.deepEqual(up.data, {
      upsertMember: { id: "m1", currentPosition: "software engineer", skills: ["Go"], yearsOfExperience: 5 },
    });
    await gql(
      gw.url,
      `mutation { upsertMember(input: {id: "m1", location: "Sunnyvale", currentCompany: null}) { id } }`,
    );
    const r = await gql(
      gw.url,
      `{ member(id: "m1") { currentPosition currentCompany location skills } missing: member(id: "nope") { id } }`,
    );
    assert.deepEqual(r.data, {
      member: {
        currentPosition: "software engineer",
        currentCompany: null,
        location: "Sunnyvale",
        skills: ["Go"],
      },
      missing: null,
    });
  });

  it("rejects bad input with BAD_USER_INPUT naming the field", async () => {
    const r = await gql(gw.url, `mutation { upsertMember(input: {id: "m2", yearsOfExperience: -3}) { id } }`);
    assert.equal(r.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    assert.match(r.errors?.[0].message ?? "", /yearsOfExperience/);
    const bad = await gql(
      gw.url,
      `mutation { upsertItem(input: {id: "j", type: "job", title: "x"}) { id } }`,
    );
    assert.equal(bad.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    assert.match(bad.errors?.[0].message ?? "", /type: must be an upper-case item type/);
    const date = await gql(
      gw.url,
      `mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }`,
      {
        e: [{ eventId: "x", memberId: "m1", itemId: "j1", action: "APPLY", occurredAt: "not a date" }],
      },
    );
    assert.equal(date.errors?.[0].extensions?.code, "BAD_USER_INPUT");
  });

  it("paginates items Relay-style, filtered by type", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await gql(gw.url, `mutation($i: ItemInput!) { upsertItem(input: $i) { id } }`, {
        i: {
          id: `j${i}`,
          type: "JOB",
          title: `Job ${i}`,
          company: "Acme",
          attributes: { Seniority: "Senior" },
        },
      });
      assert.equal(r.errors, undefined);
    }
    await gql(gw.url, `mutation { upsertItem(input: {id: "p1", type: "POST", title: "Hello"}) { id } }`);
    // A posting time becomes the item's createdAt (what retrieval orders by); without one, the
    // first write's time is kept, also when a later write gives none.
    const posted = await gql<{ upsertItem: { createdAt: string } }>(
      gw.url,
      `mutation { upsertItem(input: {id: "p2", type: "POST", title: "Old", postedAt: "2025-06-01T00:00:00Z"}) { createdAt } }`,
    );
    assert.equal(posted.data?.upsertItem.createdAt, "2025-06-01T00:00:00.000Z");
    const kept = await gql<{ upsertItem: { createdAt: string } }>(
      gw.url,
      `mutation { upsertItem(input: {id: "p2", type: "POST", title: "Old, edited"}) { createdAt } }`,
    );
    assert.equal(kept.data?.upsertItem.createdAt, "2025-06-01T00:00:00.000Z");
    const page1 = await gql<{
      items: {
        totalCount: number;
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    }>(
      gw.url,
      `{ items(first: 2, type: "JOB") { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
    );
    assert.equal(page1.data?.items.totalCount, 5);
    assert.deepEqual(
      page1.data?.items.edges.map((e) => e.node.id),
      ["j0", "j1"],
    );
    assert.equal(page1.data?.items.pageInfo.hasNextPage, true);
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        data?: {
          items: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
        };
      } = await gql(
        gw.url,
        `query($a: String) { items(first: 2, type: "JOB", after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
        { a: after },
      );
      ids.push(...(page.data?.items.edges.map((e) => e.node.id) ?? []));
      if (!page.data?.items.pageInfo.hasNextPage) break;
      after = page.data.items.pageInfo.endCursor;
    }
    assert.deepEqual(ids, ["j0", "j1", "j2", "j3", "j4"]);
    const badCursor = await gql(gw.url, `{ items(first: 2, after: "zzz") { totalCount } }`);
    assert.equal(badCursor.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    const tooMany = await gql(gw.url, `{ items(first: 1000) { totalCount } }`);
    assert.equal(tooMany.errors?.[0].extensions?.code, "BAD_USER_INPUT");
  });

  it("records interactions idempotently and all-or-nothing", async () => {
    const ev = (id: string, item = "j1") => ({
      eventId: id,
      memberId: "m1",
      itemId: item,
      action: "APPLY",
      occurredAt: "2026-01-01T00:00:00Z",
    });
    const q = `mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { received stored duplicates } }`;
    const first = await gql(gw.url, q, { e: [ev("a"), ev("b"), ev("a")] });
    assert.deepEqual(first.data, { recordInteractions: { received: 3, stored: 2, duplicates: 1 } });
    const again = await gql(gw.url, q, { e: [ev("a"), ev("c")] });
    assert.deepEqual(again.data, { recordInteractions: { received: 2, stored: 1, duplicates: 1 } });
    const bad = await gql(gw.url, q, { e: [ev("d"), ev("e", "no-such-item")] });
    assert.equal(bad.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    assert.match(bad.errors?.[0].message ?? "", /events\[1\]: unknown item 'no-such-item'/);
    assert.equal(
      await gw.db.interaction.count({ where: { eventId: "d" } }),
      0,
      "nothing of a rejected batch is stored",
    );
    assert.equal(await gw.db.interaction.count(), 3);
    // An interaction may name the impression it answers.
    const named = await gql(gw.url, q, { e: [{ ...ev("e"), impressionId: "imp-1" }] });
    assert.deepEqual(named.data, { recordInteractions: { received: 1, stored: 1, duplicates: 0 } });
    const row = await gw.db.interaction.findUniqueOrThrow({ where: { eventId: "e" } });
    assert.equal(row.impressionId, "imp-1");
    assert.equal((await gw.db.interaction.findUniqueOrThrow({ where: { eventId: "a" } })).impressionId, null);
  });

  it("lists the built-in 360Brew task and upserts new ones", async () => {
    const r = await gql<{ tasks: { name: string }[] }>(
      gw.url,
      `{ tasks { name questionVerb actions { action answer positive } } }`,
    );
    assert.ok(r.data?.tasks.some((t) => t.name === "job_apply"));
    const input = {
      name: "post_like",
      instruction: "Predict likes.",
      itemType: "POST",
      itemNoun: "post",
      itemNounPlural: "posts",
      questionVerb: "like",
      actions: [{ action: "LIKE", historyPhrase: "liked", answer: "like", positive: true }],
    };
    const up = await gql(
      gw.url,
      `mutation($t: TaskInput!) { upsertTask(input: $t) { name historyPolicy { maxItems } } }`,
      { t: input },
    );
    assert.deepEqual(up.data, { upsertTask: { name: "post_like", historyPolicy: { maxItems: 100 } } });
    const bad = await gql(gw.url, `mutation($t: TaskInput!) { upsertTask(input: $t) { name } }`, {
      t: { ...input, actions: [{ ...input.actions[0], positive: false }] },
    });
    assert.equal(bad.errors?.[0].extensions?.code, "BAD_USER_INPUT");
    const missing = await gql(gw.url, `{ task(name: "nope") { name } }`);
    assert.equal(missing.errors?.[0].extensions?.code, "NOT_FOUND");
  });

  it("masks unexpected errors and says UNAVAILABLE when no tokenizer is configured", async () => {
    const r = await gql(
      gw.url,
      `{ prompt(memberId: "m1", task: "job_apply", candidateIds: ["j1"]) { prefixText } }`,
    );
    assert.equal(r.errors?.[0].extensions?.code, "UNAVAILABLE");
  });

  it("tells caches not to keep answers, errors included", async () => {
    for (const query of [`{ member(id: "m1") { id } }`, `{ member(id: 1 }`]) {
      const res = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query }),
      });
      assert.equal(res.headers.get("cache-control"), "no-store", query);
    }
  });

  it("keeps schema.graphql in step with the code", async () => {
    const committed = await readFile(join(__dirname, "..", "..", "..", "schema.graphql"), "utf8");
    assert.equal(committed, await printSchemaSdl(), "run `npm run schema:print` and commit schema.graphql");
  });
});
