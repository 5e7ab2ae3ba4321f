import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildSchema } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { seedDemoData } from "../../dev/demo-seed";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { createApiKey } from "../../src/auth/api-keys";
import { signToken } from "../../src/auth/tokens";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { bearer, gql, gqlResponse } from "../support/graphql";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { connectSocket } from "../support/ws";

// The authorization table (src/auth/policy.ts) through the doors clients use: every query and
// mutation over HTTP and every subscription over WebSocket, against every kind of caller.

const SECRET = "authorization-test-secret-0123456789abcdef";
const ISSUER = "brewgate-test";
const AUDIENCE = "brewgate";
const OWN = "member-1";
const OTHER = "member-2";

type Kind = "query" | "mutation" | "subscription";
interface Op {
  field: string;
  kind: Kind;
  /** The operation, acting for member `m` where it names one. */
  doc: (m: string) => { query: string; variables?: Record<string, unknown> };
}

const OPS: Op[] = [
  { field: "tasks", kind: "query", doc: () => ({ query: "{ tasks { name } }" }) },
  { field: "task", kind: "query", doc: () => ({ query: `{ task(name: "job_apply") { name } }` }) },
  { field: "items", kind: "query", doc: () => ({ query: "{ items(first: 2) { totalCount } }" }) },
  { field: "item", kind: "query", doc: () => ({ query: `{ item(id: "job-1") { id } }` }) },
  {
    field: "member",
    kind: "query",
    doc: (m) => ({
      query: "query($m: ID!) { member(id: $m) { id currentPosition interactions(first: 2) { eventId } } }",
      variables: { m },
    }),
  },
  { field: "members", kind: "query", doc: () => ({ query: "{ members(first: 2) { totalCount } }" }) },
  {
    field: "prompt",
    kind: "query",
    doc: (m) => ({
      query: `query($m: ID!) { prompt(memberId: $m, task: "job_apply", candidateIds: ["job-1"]) { prefixText } }`,
      variables: { m },
    }),
  },
  {
    field: "recommendations",
    kind: "query",
    doc: (m) => ({
      query: `query($m: ID!) { recommendations(memberId: $m, task: "job_apply", candidateIds: ["job-1", "job-2"]) { impressionId items { itemId } } }`,
      variables: { m },
    }),
  },
  {
    field: "impressions",
    kind: "query",
    doc: (m) => ({
      query: "query($m: ID!) { impressions(memberId: $m, first: 1) { id memberId } }",
      variables: { m },
    }),
  },
  {
    field: "impression",
    kind: "query",
    doc: (m) => ({
      query: "query($id: ID!) { impression(id: $id) { id memberId } }",
      variables: { id: impressionOf[m] },
    }),
  },
  {
    field: "recordInteractions",
    kind: "mutation",
    doc: (m) => ({
      query: "mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }",
      variables: {
        e: [
          {
            eventId: `authz-${randomUUID()}`,
            memberId: m,
            itemId: "job-3",
            action: "VIEW",
            occurredAt: new Date().toISOString(),
          },
        ],
      },
    }),
  },
  {
    field: "upsertItem",
    kind: "mutation",
    doc: () => ({
      query: `mutation { upsertItem(input: {id: "authz-job", type: "JOB", title: "Probe"}) { id } }`,
    }),
  },
  {
    field: "upsertMember",
    kind: "mutation",
    doc: (m) => ({ query: "mutation($m: ID!) { upsertMember(input: {id: $m}) { id } }", variables: { m } }),
  },
  {
    field: "upsertTask",
    kind: "mutation",
    doc: () => ({
      query: "mutation($t: TaskInput!) { upsertTask(input: $t) { name } }",
      variables: { t: { ...JOB_APPLY_TASK, name: "authz_probe" } },
    }),
  },
  {
    field: "explanation",
    kind: "subscription",
    doc: (m) => ({
      query: `subscription($m: ID!) { explanation(memberId: $m, task: "job_apply", itemId: "job-1", maxTokens: 2) { done } }`,
      variables: { m },
    }),
  },
  {
    field: "livePredictions",
    kind: "subscription",
    doc: (m) => ({
      query: `subscription($m: ID!) { livePredictions(memberId: $m, task: "job_apply", candidateIds: ["job-1"], first: 1) { reason } }`,
      variables: { m },
    }),
  },
];

/** An impression of each member, made before the table runs (for `impression(id)`). */
const impressionOf: Record<string, string> = {};

type Outcome = "data" | "null" | "UNAUTHENTICATED" | "FORBIDDEN";

interface Caller {
  name: string;
  /** Credentials sent; null: none. */
  token: () => string | null;
  /** The member the operations act for. */
  target: string;
  expect: (op: Op) => Outcome;
}

const ADMIN_ONLY = new Set(["upsertItem", "upsertMember", "upsertTask"]);
const CATALOG = new Set(["tasks", "task", "items", "item"]);

/** What a member credential gets acting for `target`. */
function memberOutcome(op: Op, target: string): Outcome {
  if (ADMIN_ONLY.has(op.field) || op.field === "members") return "FORBIDDEN";
  if (CATALOG.has(op.field) || target === OWN) return "data";
  // Another member's impression reads as unknown, as a wrong id would.
  return op.field === "impression" ? "null" : "FORBIDDEN";
}

describe("authorization: every operation against every kind of caller", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  let gw: Gateway;
  const tokens: Record<string, string> = {};

  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        MODEL_DIR: testModel(),
        INFERENCE_ADDRESSES: sidecar.address,
        AUTH_REQUIRED: "true",
        AUTH_JWT_SECRET: SECRET,
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        API_KEY_CACHE_TTL_MS: "0",
      }),
    );
    await seedDemoData(gw.db, {
      members: 3,
      items: 12,
      interactions: 20,
      impressions: 0,
      shownPerImpression: 4,
    });
    const sign = (role: "member" | "service" | "admin", memberId?: string) =>
      signToken(SECRET, { role, memberId, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 600 });
    tokens.member = await sign("member", OWN);
    tokens.service = await sign("service");
    tokens.admin = await sign("admin");
    tokens.serviceKey = (await createApiKey(gw.db, { name: "authz service", role: "service" })).key;
    tokens.memberKey = (
      await createApiKey(gw.db, { name: "authz member", role: "member", memberId: OWN })
    ).key;
    for (const m of [OWN, OTHER]) {
      const r = await gql<{ recommendations: { impressionId: string } }>(
        gw.url,
        `query($m: ID!) { recommendations(memberId: $m, task: "job_apply", candidateIds: ["job-1"]) { impressionId } }`,
        { m },
        bearer(tokens.admin),
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      impressionOf[m] = r.data?.recommendations.impressionId as string;
    }
    await gw.impressions.flush();
  });
  after(async () => {
    await gw?.stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  it("the table names every query, mutation and subscription of the schema", () => {
    const schema = buildSchema(readFileSync(join(REPO_ROOT, "schema.graphql"), "utf8"));
    const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()];
    const fields = roots.flatMap((t) => Object.keys(t?.getFields() ?? {})).sort();
    assert.deepEqual(OPS.map((o) => o.field).sort(), fields);
  });

  it("counts refusals by code and transport in /metrics", async () => {
    await gql(gw.url, "{ members(first: 1) { totalCount } }", undefined, bearer(tokens.member));
    await firstOverWebSocket(
      gw.url,
      null,
      'subscription { livePredictions(memberId: "x", task: "job_apply") { reason } }',
    );
    const text = await (await fetch(gw.url.replace(/\/graphql$/, "/metrics"))).text();
    const count = (code: string, transport: string) =>
      Number(
        new RegExp(`^brewgate_refusals_total\\{code="${code}",transport="${transport}"\\} (\\d+)`, "m").exec(
          text,
        )?.[1] ?? 0,
      );
    assert.ok(count("FORBIDDEN", "http") >= 1, text);
    assert.ok(count("UNAUTHENTICATED", "ws") >= 1, text);
  });

  it("takes an API key in x-api-key over HTTP and as apiKey in connectionParams over WebSocket", async () => {
    const http = await gqlResponse(gw.url, "{ members(first: 1) { totalCount } }", undefined, {
      "x-api-key": tokens.serviceKey,
    });
    assert.equal(http.status, 200, JSON.stringify(http.body));
    const socket = await connectSocket(gw.url, { apiKey: tokens.serviceKey });
    assert.equal(socket.outcome, "ack", JSON.stringify(socket.outcome));
    await socket.close();
    const wrong = await gqlResponse(gw.url, "{ tasks { name } }", undefined, { "x-api-key": "bgk_nope" });
    assert.equal(wrong.status, 401);
  });

  it("refuses more directives than GRAPHQL_MAX_DIRECTIVES (20 by default)", async () => {
    const fields = Array.from({ length: 21 }, () => "name @include(if: true)").join(" ");
    const r = await gqlResponse(gw.url, `{ tasks { ${fields} } }`, undefined, bearer(tokens.admin));
    assert.equal(r.status, 400);
    assert.equal(r.body.errors?.[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
    assert.match(r.body.errors?.[0].message ?? "", /Directives limit of 20 exceeded, found 21/);
  });

  const callers: Caller[] = [
    { name: "no credentials", token: () => null, target: OWN, expect: () => "UNAUTHENTICATED" },
    {
      name: "a malformed bearer token",
      token: () => "not.a.jwt",
      target: OWN,
      expect: () => "UNAUTHENTICATED",
    },
    {
      name: "a member JWT, for itself",
      token: () => tokens.member,
      target: OWN,
      expect: (op) => memberOutcome(op, OWN),
    },
    {
      name: "a member JWT, for another member",
      token: () => tokens.member,
      target: OTHER,
      expect: (op) => memberOutcome(op, OTHER),
    },
    {
      name: "a member API key, for another member",
      token: () => tokens.memberKey,
      target: OTHER,
      expect: (op) => memberOutcome(op, OTHER),
    },
    {
      name: "a service JWT, for any member",
      token: () => tokens.service,
      target: OTHER,
      expect: (op) => (ADMIN_ONLY.has(op.field) ? "FORBIDDEN" : "data"),
    },
    {
      name: "a service API key, for any member",
      token: () => tokens.serviceKey,
      target: OTHER,
      expect: (op) => (ADMIN_ONLY.has(op.field) ? "FORBIDDEN" : "data"),
    },
    { name: "an admin JWT", token: () => tokens.admin, target: OTHER, expect: () => "data" },
  ];

  for (const caller of callers) {
    it(`${caller.name}: each operation answers as the table says, with nothing of another member in a refusal`, async () => {
      const seen: string[] = [];
      for (const op of OPS) {
        const token = caller.token();
        const { query, variables } = op.doc(caller.target);
        const answer =
          op.kind === "subscription"
            ? await firstOverWebSocket(gw.url, token, query, variables)
            : await overHttp(gw.url, token, query, variables);
        const expected = caller.expect(op);
        seen.push(`${op.field}: ${answer.outcome}`);
        assert.equal(answer.outcome, expected, `${op.field} for ${caller.name}: ${answer.raw}`);
        if (expected !== "data") {
          // A refusal or an unknown answer carries no data of the member it was about.
          assert.doesNotMatch(answer.raw, new RegExp(`${OTHER}\\b`), `${op.field}: ${answer.raw}`);
          if (op.kind !== "subscription" && expected !== "null") assert.equal(answer.data, null, answer.raw);
        }
      }
      assert.equal(seen.length, OPS.length);
    });
  }
});

interface Answer {
  outcome: Outcome | string;
  data: unknown;
  raw: string;
}

async function overHttp(
  url: string,
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<Answer> {
  const r = await gqlResponse(url, query, variables, token ? bearer(token) : {});
  const raw = JSON.stringify({ status: r.status, body: r.body });
  const code = r.body.errors?.[0]?.extensions?.code;
  if (code === "UNAUTHENTICATED") assert.equal(r.status, 401, raw);
  if (code === "FORBIDDEN") assert.equal(r.status, 403, raw);
  if (code) return { outcome: String(code), data: r.body.data ?? null, raw };
  const values = Object.values(r.body.data ?? {});
  return { outcome: values.length === 1 && values[0] === null ? "null" : "data", data: r.body.data, raw };
}

/** The first answer of a subscription: its first event, its error, or how the socket closed. */
function firstOverWebSocket(
  url: string,
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<Answer> {
  const client = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
  return new Promise<Answer>((resolve) => {
    const timer = setTimeout(
      () => finish({ outcome: "timeout", data: null, raw: "no answer in 20 s" }),
      20_000,
    );
    let done = false;
    const finish = (a: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      void client.dispose();
      resolve(a);
    };
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (r) => {
          const raw = JSON.stringify(r);
          const code = r.errors?.[0]?.extensions?.code;
          finish({ outcome: code ? String(code) : "data", data: r.data ?? null, raw });
        },
        error: (err) => {
          const raw = JSON.stringify(err, Object.getOwnPropertyNames(err ?? {}));
          const e = err as { code?: number; reason?: string } | { extensions?: { code?: string } }[];
          if (Array.isArray(e)) return finish({ outcome: String(e[0]?.extensions?.code), data: null, raw });
          const close = (e as { code?: number }).code;
          const byClose: Record<number, Outcome> = { 4401: "UNAUTHENTICATED", 4403: "FORBIDDEN" };
          finish({ outcome: (close && byClose[close]) || `closed ${close}`, data: null, raw });
        },
        complete: () => finish({ outcome: "completed without an event", data: null, raw: "" }),
      },
    );
  });
}
