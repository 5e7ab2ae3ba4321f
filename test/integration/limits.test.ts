import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Client, FormattedExecutionResult } from "graphql-ws";
import { Redis } from "ioredis";
import { SignJWT } from "jose";
import { seedDemoData } from "../../dev/demo-seed";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { signToken } from "../../src/auth/tokens";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { waitFor } from "../support/wait";
import { connectSocket, type GraphqlSocket, type SocketClose, wsClient } from "../support/ws";

/*
 * The security limits through the doors a user uses: GraphQL over HTTP (fetch) and over
 * WebSocket (graphql-ws's client and bare `ws` sockets), against gateways on a real PostgreSQL,
 * a real sidecar and a real Redis. Each case checks what the client gets back: the HTTP status,
 * `errors[0].extensions.code`, the message naming the limit, the close code of a socket.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** This run's own names: rate-limit counters live in the shared Redis, and a rerun must not find them spent. */
const RUN = randomBytes(4).toString("hex");
const SECRET = `limits-test-${randomBytes(24).toString("hex")}`;
const ISSUER = `brewgate-limits-test-${RUN}`;
const AUDIENCE = "brewgate";
const JWT = { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE };

const memberToken = (memberId: string, ttlSeconds = 600) =>
  signToken(SECRET, { role: "member", memberId, issuer: ISSUER, audience: AUDIENCE, ttlSeconds });
const serviceToken = (subject: string) =>
  signToken(SECRET, { role: "service", subject, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 600 });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type GqlError = { message: string; locations?: unknown; extensions?: Record<string, unknown> };
interface Answer<T> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: GqlError[];
}

/** One GraphQL request over HTTP, as any client sends it; the status and headers come back too. */
async function post<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<Answer<T>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? bearer(token) : {}) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: { data?: T | null; errors?: GqlError[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, headers: res.headers, ...body };
}

/** What came back, in one line, for the test's diagnostics (the README's abuse cases). */
function said(t: TestContext, what: string, a: Answer<unknown> | { errors?: GqlError[] }): void {
  const status = "status" in a ? `HTTP ${a.status} ` : "";
  const retry = "headers" in a && a.headers.get("retry-after");
  const e = a.errors?.[0];
  t.diagnostic(
    `${what} -> ${status}${retry ? `Retry-After: ${retry} ` : ""}${e ? `${JSON.stringify(e.extensions)} "${e.message}"` : "no error"}`,
  );
}

interface Subscription {
  results: FormattedExecutionResult[];
  /** An array of GraphQL errors (refused), or the CloseEvent of a socket that closed under it. */
  error: unknown;
  done: boolean;
  unsubscribe(): void;
  /** Waits for `n` results; fails when it ends before, or after `ms`. */
  next(n: number, ms?: number): Promise<void>;
  /** Waits for its end; fails after `ms`. */
  end(ms?: number): Promise<void>;
}

/** A subscription read in the background: its results, then its end (completed, or its error). */
function subscribe(client: Client, query: string, variables: Record<string, unknown>): Subscription {
  const s: Subscription = {
    results: [],
    error: undefined,
    done: false,
    unsubscribe: () => undefined,
    async next(n, ms = 15_000) {
      await waitFor(`${n} result(s)`, async () => s.results.length >= n || s.done, ms);
      if (s.results.length < n)
        throw new Error(`ended after ${s.results.length} result(s): ${errText(s.error)}`);
    },
    async end(ms = 15_000) {
      await waitFor("the end of the subscription", async () => s.done, ms);
    },
  };
  s.unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (r) => s.results.push(r as FormattedExecutionResult),
      error: (err) => {
        s.error = err;
        s.done = true;
      },
      complete: () => {
        s.done = true;
      },
    },
  );
  return s;
}

function errText(err: unknown): string {
  if (Array.isArray(err)) return JSON.stringify(err);
  if (err && typeof err === "object" && "code" in err) return `closed ${(err as SocketClose).code}`;
  return String(err);
}

/** The close events of a graphql-ws client, as they come. */
function closes(client: Client): SocketClose[] {
  const seen: SocketClose[] = [];
  client.on("closed", (e) => {
    const { code, reason } = e as SocketClose;
    seen.push({ code, reason: String(reason) });
  });
  return seen;
}

/** Resolves with `p`, or fails naming `what` after `ms`. */
async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A counter's value on the gateway's /metrics page (0 when absent). */
async function metric(gw: Gateway, name: string): Promise<number> {
  const res = await fetch(gw.url.replace(/\/graphql$/, "/metrics"), { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

const MEMBER = "member-1";
const jobs = (from: number, n: number) => Array.from({ length: n }, (_, i) => `job-${from + i}`);

const LIVE = `subscription($m: ID!) { livePredictions(memberId: $m, task: "job_apply", first: 3) {
  reason ranking { requestId items { itemId score } } } }`;
const LIVE_GIVEN = `subscription($m: ID!, $c: [ID!]) { livePredictions(memberId: $m, task: "job_apply", candidateIds: $c, first: 3) {
  reason eventIds ranking { requestId items { itemId score } } } }`;
const EXPLAIN = `subscription($m: ID!, $i: ID!, $n: Int) { explanation(memberId: $m, task: "job_apply", itemId: $i, maxTokens: $n) {
  delta done } }`;
const TASKS = "{ tasks { name } }";

describe("security limits, through HTTP and WebSocket", () => {
  let pg: TestDatabase;
  let sidecar: SidecarProcess;
  /** Authentication optional (a development gateway) with small limits where the cases need them. */
  let gw: Gateway;
  const stops: (() => Promise<unknown>)[] = [];
  const base = () => ({ DATABASE_URL: pg.url, MODEL_DIR: testModel(), INFERENCE_ADDRESSES: sidecar.address });
  const start = async (env: Record<string, string>) => {
    const g = await startGateway(testConfig({ ...base(), ...env }));
    stops.push(() => g.stop());
    return g;
  };

  before(async () => {
    [pg, sidecar] = await Promise.all([createTestDatabase(), startTestSidecar()]);
    gw = await start({
      GRAPHQL_MAX_DEPTH: "4",
      GRAPHQL_MAX_TOKENS: "1000",
      GRAPHQL_MAX_COST: "1000",
      GRAPHQL_MAX_MODEL_COST: "100",
      WS_MAX_MESSAGE_BYTES: "4096",
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "1",
    });
    await seedDemoData(gw.db, {
      members: 3,
      items: 60,
      interactions: 20,
      impressions: 5,
      shownPerImpression: 4,
    });
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop();
    await sidecar?.stop();
    await pg?.drop();
  });

  describe("operation limits (GRAPHQL_MAX_*)", () => {
    it("1. depth: a query deeper than GRAPHQL_MAX_DEPTH is refused with 400; a shallow one runs", async (t) => {
      const deep = await post(
        gw.url,
        "{ members(first: 2) { edges { node { interactions(first: 2) { item { title } } } } } }",
      );
      said(t, "depth 6 query (GRAPHQL_MAX_DEPTH=4)", deep);
      assert.equal(deep.status, 400);
      assert.equal(deep.errors?.[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
      assert.match(deep.errors?.[0].message ?? "", /depth limit of 4 exceeded, found 6/);
      assert.equal(deep.data, undefined);

      const shallow = await post<{ member: { interactions: unknown[] } }>(
        gw.url,
        `{ member(id: "${MEMBER}") { interactions(first: 2) { item { title } } } }`,
      );
      assert.equal(shallow.status, 200);
      assert.equal(shallow.errors, undefined, JSON.stringify(shallow.errors));
      assert.ok(Array.isArray(shallow.data?.member.interactions));

      // Over WebSocket the same rule answers the subscription with an error; the socket stays open.
      const client = wsClient(gw.url);
      const closed = closes(client);
      try {
        const tooDeep = subscribe(
          client,
          `subscription($m: ID!) { livePredictions(memberId: $m, task: "job_apply", first: 3) {
            ranking { items { item { title } } } } }`,
          { m: MEMBER },
        );
        await tooDeep.end();
        assert.ok(Array.isArray(tooDeep.error), errText(tooDeep.error));
        const errors = tooDeep.error as GqlError[];
        said(t, "livePredictions subscription of depth 5 over WebSocket (GRAPHQL_MAX_DEPTH=4)", { errors });
        assert.equal(errors[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
        assert.match(errors[0].message, /depth limit of 4 exceeded, found 5/);
        const ok = subscribe(client, "{ tasks { name } }", {});
        await ok.end();
        assert.equal(ok.error, undefined, errText(ok.error));
        // (The client closes its socket itself, 1000, when it has no operation left.)
        assert.deepEqual(
          closed.filter((c) => c.code !== 1000),
          [],
          "the server closed the socket",
        );
      } finally {
        await client.dispose();
      }
    });

    it("2. aliases: 40 aliased recommendations in one request are refused by the default limit (15) before any ranking runs", async (t) => {
      await gw.impressions.flush();
      const impressionsBefore = await gw.db.impression.count();
      const storedBefore = await metric(gw, 'brewgate_impressions_total{outcome="stored"}');
      const fields = Array.from(
        { length: 40 },
        (_, i) => `r${i}: recommendations(memberId: $m, task: "job_apply") { requestId items { itemId } }`,
      );
      const abuse = await post(gw.url, `query($m: ID!) { ${fields.join("\n")} }`, { m: MEMBER });
      said(t, "40 aliased recommendations (default GRAPHQL_MAX_ALIASES=15)", abuse);
      assert.equal(abuse.status, 400);
      assert.equal(abuse.errors?.length, 1, JSON.stringify(abuse.errors));
      assert.equal(abuse.errors?.[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
      assert.match(abuse.errors?.[0].message ?? "", /Aliases limit of 15 exceeded, found 40/);
      await gw.impressions.flush();
      assert.equal(
        await gw.db.impression.count(),
        impressionsBefore,
        "a ranking ran and wrote an impression",
      );
      assert.equal(await metric(gw, 'brewgate_impressions_total{outcome="stored"}'), storedBefore);

      // 15 aliases are allowed, and each one ranks: what the count above would have seen.
      const fifteen = await post(
        gw.url,
        `query($m: ID!, $c: [ID!]) { ${fields
          .slice(0, 15)
          .map((f) => f.replace('task: "job_apply"', 'task: "job_apply", candidateIds: $c'))
          .join("\n")} }`,
        { m: MEMBER, c: jobs(1, 3) },
      );
      assert.equal(fifteen.errors, undefined, JSON.stringify(fifteen.errors));
      await gw.impressions.flush();
      assert.equal(await gw.db.impression.count(), impressionsBefore + 15);
      assert.equal(await metric(gw, 'brewgate_impressions_total{outcome="stored"}'), storedBefore + 15);
    });

    it("3. tokens: a document over GRAPHQL_MAX_TOKENS is a syntax error naming the limit; variables do not count", async (t) => {
      const long = await post(gw.url, `{ tasks { ${"name ".repeat(1200)}} }`);
      said(t, "{ tasks { name x1200 } }, 1205 tokens (GRAPHQL_MAX_TOKENS=1000)", long);
      assert.equal(long.status, 400);
      assert.equal(long.errors?.[0].extensions?.code, "GRAPHQL_PARSE_FAILED");
      // (graphql-js writes "more that".)
      assert.match(long.errors?.[0].message ?? "", /^Syntax Error: Document contains more th.. 1000 tokens/);

      // 70 interactions: written out in the document they take 1,203 tokens; as variables, the document has 23.
      const events = Array.from({ length: 70 }, (_, i) => ({
        eventId: `tokens-${RUN}-${i}`,
        memberId: "member-2",
        itemId: `job-${(i % 60) + 1}`,
        action: "VIEW",
        occurredAt: new Date(Date.UTC(2026, 3, 1, 0, i)).toISOString(),
      }));
      const inline = events
        .map(
          (e) =>
            `{ ${Object.entries(e)
              .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
              .join(", ")} }`,
        )
        .join(" ");
      const literal = await post(gw.url, `mutation { recordInteractions(events: [${inline}]) { stored } }`);
      said(
        t,
        "recordInteractions with 70 events written in the document, 1203 tokens (GRAPHQL_MAX_TOKENS=1000)",
        literal,
      );
      assert.equal(literal.errors?.[0].extensions?.code, "GRAPHQL_PARSE_FAILED");
      const viaVariables = await post<{ recordInteractions: { stored: number } }>(
        gw.url,
        "mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }",
        { e: events },
      );
      assert.equal(viaVariables.errors, undefined, JSON.stringify(viaVariables.errors));
      assert.equal(viaVariables.data?.recordInteractions.stored, 70);
    });

    it("4. structural cost: a wide query over GRAPHQL_MAX_COST is refused; a narrower one runs", async (t) => {
      const page = (n: number) =>
        `{ items(first: ${n}) { totalCount edges { node { id title company location } } } }`;
      const wide = await post(gw.url, page(100));
      said(t, "items(first: 100) with 4 fields each (GRAPHQL_MAX_COST=1000)", wide);
      assert.equal(wide.status, 400);
      assert.equal(wide.errors?.[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
      assert.match(wide.errors?.[0].message ?? "", /Cost limit of 1000 exceeded, found 2450/);
      const narrow = await post<{ items: { edges: unknown[] } }>(gw.url, page(10));
      assert.equal(narrow.errors, undefined, JSON.stringify(narrow.errors));
      assert.equal(narrow.data?.items.edges.length, 10);
    });

    it("5. model cost: candidates across aliases over GRAPHQL_MAX_MODEL_COST, over HTTP and an explanation's tokens over WebSocket", async (t) => {
      await gw.impressions.flush();
      const impressionsBefore = await gw.db.impression.count();
      const three = `query($m: ID!, $a: [ID!], $b: [ID!], $c: [ID!]) {
        a: recommendations(memberId: $m, task: "job_apply", candidateIds: $a) { requestId }
        b: recommendations(memberId: $m, task: "job_apply", candidateIds: $b) { requestId }
        c: recommendations(memberId: $m, task: "job_apply", candidateIds: $c) { requestId } }`;
      const over = await post(gw.url, three, { m: MEMBER, a: jobs(1, 40), b: jobs(11, 40), c: jobs(21, 40) });
      said(t, "3 aliased recommendations x 40 candidateIds (GRAPHQL_MAX_MODEL_COST=100)", over);
      assert.equal(over.status, 400);
      assert.equal(over.errors?.[0].extensions?.code, "BAD_USER_INPUT");
      assert.equal(over.errors?.[0].extensions?.cost, 120);
      assert.equal(over.errors?.[0].extensions?.limit, 100);
      assert.match(
        over.errors?.[0].message ?? "",
        /model cost is 120, over the limit of 100.*GRAPHQL_MAX_MODEL_COST/,
      );
      await gw.impressions.flush();
      assert.equal(await gw.db.impression.count(), impressionsBefore);

      const under = await post(gw.url, three, {
        m: MEMBER,
        a: jobs(1, 30),
        b: jobs(11, 30),
        c: jobs(21, 30),
      });
      assert.equal(under.errors, undefined, JSON.stringify(under.errors));

      const client = wsClient(gw.url);
      try {
        const refused = subscribe(client, EXPLAIN, { m: MEMBER, i: "job-1", n: 500 });
        await refused.end();
        assert.ok(Array.isArray(refused.error), errText(refused.error));
        const errors = refused.error as GqlError[];
        said(t, "explanation subscription with maxTokens 500 (GRAPHQL_MAX_MODEL_COST=100)", { errors });
        assert.equal(errors[0].extensions?.code, "BAD_USER_INPUT");
        assert.equal(errors[0].extensions?.cost, 500);
        assert.equal(errors[0].extensions?.limit, 100);
        assert.deepEqual(refused.results, []);
        // Within the ceiling the same subscription streams to its end.
        const allowed = subscribe(client, EXPLAIN, { m: MEMBER, i: "job-1", n: 8 });
        await allowed.end(30_000);
        assert.equal(allowed.error, undefined, errText(allowed.error));
        assert.ok(allowed.results.length > 0);
      } finally {
        await client.dispose();
      }
    });
  });

  describe("6. rate limits shared across replicas through Redis", () => {
    let one: Gateway;
    let two: Gateway;
    let redis: Redis;
    before(async () => {
      redis = new Redis(REDIS_URL);
      stops.push(async () => {
        // This run's counters go (they would expire with their window anyway).
        const keys = await redis.keys(`brewgate:rl:*${RUN}*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
      });
      const env = {
        ...JWT,
        AUTH_REQUIRED: "true",
        REDIS_URL,
        RATE_LIMIT_MEMBER_POINTS: "4",
        RATE_LIMIT_SERVICE_POINTS: "10",
      };
      [one, two] = await Promise.all([start(env), start(env)]);
    });

    it("spends one member's points on either gateway, refuses with 429 and Retry-After, and counts a service apart", async (t) => {
      const member = await memberToken(`rl-${RUN}`);
      for (const g of [one, one, two, two]) {
        const r = await post(g.url, TASKS, undefined, member);
        assert.equal(r.status, 200, JSON.stringify(r.errors));
      }
      for (const g of [one, two]) {
        const r = await post(g.url, TASKS, undefined, member);
        said(
          t,
          `5th operation of one member within the window, on gateway ${g === one ? 1 : 2} (RATE_LIMIT_MEMBER_POINTS=4)`,
          r,
        );
        assert.equal(r.status, 429);
        assert.equal(r.errors?.[0].extensions?.code, "RATE_LIMITED");
        const retry = Number(r.headers.get("retry-after"));
        assert.ok(
          Number.isInteger(retry) && retry >= 1 && retry <= 60,
          `Retry-After: ${r.headers.get("retry-after")}`,
        );
        assert.equal(r.errors?.[0].extensions?.retryAfterSeconds, retry);
        assert.match(r.errors?.[0].message ?? "", /rate limit reached: 4 points per 60 s; retry in \d+ s/);
        assert.equal(r.data, undefined);
      }
      // One counter in Redis for both replicas (refused attempts count in it too).
      const spent = Number(await redis.get(`brewgate:rl:member:jwt:${ISSUER}:rl-${RUN}`));
      assert.ok(spent >= 4, `the shared counter holds ${spent}`);
      // A service principal spends from a budget of its own, untouched by the member's.
      const service = await serviceToken(`svc-${RUN}`);
      const s = await post(two.url, TASKS, undefined, service);
      assert.equal(s.status, 200, JSON.stringify(s.errors));
      // Another member, too, has its own.
      const other = await post(one.url, TASKS, undefined, await memberToken(`rl2-${RUN}`));
      assert.equal(other.status, 200, JSON.stringify(other.errors));
    });
  });

  describe("7-8. WebSocket limits and authentication", () => {
    let auth: Gateway;
    before(async () => {
      auth = await start({ ...JWT, AUTH_REQUIRED: "true", WS_MAX_CONNECTIONS_PER_PRINCIPAL: "2" });
    });

    it("closes the socket with 1009 on a message over WS_MAX_MESSAGE_BYTES", async (t) => {
      const s = await connectSocket(gw.url);
      try {
        assert.equal(s.outcome, "ack");
        s.send({ id: "small", type: "subscribe", payload: { query: TASKS } });
        await waitFor("the small operation's answer", async () =>
          s.messages.some((m) => m.id === "small" && m.type === "complete"),
        );
        const pad = "x".repeat(8 * 1024);
        s.send({ id: "big", type: "subscribe", payload: { query: TASKS, variables: { pad } } });
        const close = await within("the socket to close", s.closed, 10_000);
        t.diagnostic(
          `subscribe message of ~8.3 KB (WS_MAX_MESSAGE_BYTES=4096) -> close ${close.code} "${close.reason}"`,
        );
        assert.equal(close.code, 1009);
        assert.ok(!s.messages.some((m) => m.id === "big"), "the large operation was answered");
      } finally {
        await s.close();
      }
    });

    it("closes a principal's third socket with 4429 (WS_MAX_CONNECTIONS_PER_PRINCIPAL=2); another principal still connects", async (t) => {
      const params = bearer(await memberToken(MEMBER));
      const open: GraphqlSocket[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          open.push(await connectSocket(auth.url, params));
          assert.equal(open[i].outcome, "ack");
        }
        const third = await connectSocket(auth.url, params);
        open.push(third);
        t.diagnostic(
          `third socket of one member (WS_MAX_CONNECTIONS_PER_PRINCIPAL=2) -> close ${JSON.stringify(third.outcome)}`,
        );
        assert.deepEqual(third.outcome, { code: 4429, reason: "too many connections: 2 per principal" });
        const other = await connectSocket(auth.url, bearer(await memberToken("member-2")));
        open.push(other);
        assert.equal(other.outcome, "ack");
        // A closed socket frees its place.
        await open[0].close();
        await waitFor(
          "a freed place",
          async () => {
            const again = await connectSocket(auth.url, params);
            open.push(again);
            return again.outcome === "ack";
          },
          5_000,
        );
      } finally {
        await Promise.all(open.map((s) => s.close()));
      }
    });

    it("refuses a second subscription on a socket (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION=1) while the first streams; after it completes a new one runs", async (t) => {
      const client = wsClient(gw.url);
      const closed = closes(client);
      try {
        const first = subscribe(client, LIVE_GIVEN, { m: "member-3", c: jobs(1, 3) });
        await first.next(1);
        const second = subscribe(client, LIVE_GIVEN, { m: "member-3", c: jobs(4, 3) });
        await second.end();
        assert.ok(Array.isArray(second.error), errText(second.error));
        const errors = second.error as GqlError[];
        said(t, "second subscription on one socket (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION=1)", { errors });
        assert.equal(errors[0].extensions?.code, "RATE_LIMITED");
        assert.equal(errors[0].extensions?.retryAfterSeconds, 1);
        assert.match(errors[0].message, /already runs 1 operations \(WS_MAX_SUBSCRIPTIONS_PER_CONNECTION\)/);
        assert.deepEqual(second.results, []);

        // The first keeps streaming: a new interaction of the member brings its next ranking.
        const recorded = await post(
          gw.url,
          "mutation($e: [InteractionInput!]!) { recordInteractions(events: $e) { stored } }",
          {
            e: [
              {
                eventId: `live-${RUN}`,
                memberId: "member-3",
                itemId: "job-9",
                action: "VIEW",
                occurredAt: new Date().toISOString(),
              },
            ],
          },
        );
        assert.equal(recorded.errors, undefined, JSON.stringify(recorded.errors));
        await first.next(2);
        const push = first.results[1].data?.livePredictions as { reason: string; eventIds: string[] };
        assert.equal(push.reason, "INTERACTION");
        assert.deepEqual(push.eventIds, [`live-${RUN}`]);
        assert.equal(first.done, false);

        first.unsubscribe();
        const third = subscribe(client, LIVE_GIVEN, { m: "member-3", c: jobs(4, 3) });
        await third.next(1);
        assert.equal(third.error, undefined);
        third.unsubscribe();
        assert.deepEqual(closed, [], "the socket was closed");
      } finally {
        await client.dispose();
      }
    });

    it("counts subscriptions sent in one burst against WS_MAX_SUBSCRIPTIONS_PER_CONNECTION=1", async (t) => {
      const s = await connectSocket(gw.url);
      try {
        assert.equal(s.outcome, "ack");
        for (const id of ["b1", "b2", "b3"]) {
          s.send({
            id,
            type: "subscribe",
            payload: { query: LIVE_GIVEN, variables: { m: "member-2", c: jobs(1, 2) } },
          });
        }
        await waitFor("an answer to each", async () =>
          ["b1", "b2", "b3"].every((id) => s.messages.some((m) => m.id === id)),
        );
        const refused = s.messages.filter((m) => m.type === "error");
        t.diagnostic(
          `3 subscribe messages in one burst on one socket (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION=1) -> ${refused.length} refused: ${JSON.stringify(refused[0]?.payload)}`,
        );
        assert.equal(refused.length, 2, JSON.stringify(s.messages));
        for (const m of refused) {
          assert.equal((m.payload as GqlError[])[0].extensions?.code, "RATE_LIMITED");
        }
        const served = new Set(s.messages.filter((m) => m.type === "next").map((m) => m.id));
        assert.equal(served.size, 1);
      } finally {
        await s.close();
      }
    });

    describe("8. WebSocket authentication (AUTH_REQUIRED)", () => {
      it("closes with 4401 without a token and with an invalid one, 4403 with a token of no brewgate scope", async (t) => {
        const forged = await signToken("another-secret-of-at-least-32-characters", {
          role: "member",
          memberId: MEMBER,
          issuer: ISSUER,
          audience: AUDIENCE,
          ttlSeconds: 600,
        });
        const unscoped = await new SignJWT({ scope: "openid profile" })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setSubject(MEMBER)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt()
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode(SECRET));
        const expired = await memberToken(MEMBER, -60);
        const cases: [string, Record<string, unknown> | undefined, number, RegExp][] = [
          ["no connectionParams", undefined, 4401, /authentication required/],
          ["a token signed with another secret", bearer(forged), 4401, /signature does not verify/],
          ["a token that is no JWT", bearer("not.a.jwt"), 4401, /not a valid JWT/],
          ["an expired token", bearer(expired), 4401, /expired/],
          ["a token with scope 'openid profile'", bearer(unscoped), 4403, /grants no brewgate scope/],
        ];
        for (const [what, params, code, reason] of cases) {
          const s = await connectSocket(auth.url, params);
          await s.close();
          t.diagnostic(
            `connection_init with ${what} (AUTH_REQUIRED=true) -> close ${JSON.stringify(s.outcome)}`,
          );
          assert.notEqual(s.outcome, "ack", what);
          const close = s.outcome as SocketClose;
          assert.equal(close.code, code, what);
          assert.match(close.reason, reason, what);
        }
      });

      it("serves a member with a 3 s token, then closes its socket with 4401 when the token expires", async (t) => {
        const token = await memberToken(MEMBER, 3);
        const exp = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp * 1000;
        const client = wsClient(auth.url, bearer(token));
        const closed = closes(client);
        try {
          const live = subscribe(client, LIVE, { m: MEMBER });
          await live.next(1, exp - Date.now());
          assert.equal(live.results[0].errors, undefined, JSON.stringify(live.results[0].errors));
          const push = live.results[0].data?.livePredictions as {
            reason: string;
            ranking: { items: unknown[] };
          };
          assert.equal(push.reason, "INITIAL");
          assert.equal(push.ranking.items.length, 3);
          assert.ok(Date.now() < exp, "the first push came after the token expired");
          await waitFor("the close at expiry", async () => closed.length > 0, exp - Date.now() + 5_000);
          const at = Date.now();
          t.diagnostic(
            `livePredictions on a socket whose member token expires -> close ${closed[0].code} "${closed[0].reason}" ${at - exp} ms after exp`,
          );
          assert.equal(closed[0].code, 4401);
          assert.equal(closed[0].reason, "the token has expired");
          assert.ok(at >= exp - 50, `closed ${exp - at} ms before the token expired`);
          await live.end(5_000);
          assert.equal((live.error as SocketClose | undefined)?.code, 4401);
          assert.equal(live.results.length, 1);
        } finally {
          await client.dispose();
        }
      });
    });
  });

  describe("9. production defaults (NODE_ENV=production)", () => {
    let prod: Gateway;
    let open: Gateway;
    let token: string;
    const root = (g: Gateway, path: string) =>
      fetch(g.url.replace(/\/graphql$/, path), { signal: AbortSignal.timeout(10_000) });
    const noStack = (what: string, text: string) => {
      assert.doesNotMatch(
        text,
        /stacktrace|\n\s+at |\bat .*\.js:\d+/,
        `${what} carries a stack trace: ${text}`,
      );
    };
    before(async () => {
      [prod, open] = await Promise.all([
        start({ ...JWT, NODE_ENV: "production" }),
        start({ ...JWT, NODE_ENV: "production", INTROSPECTION_ENABLED: "true", IDE_ENABLED: "true" }),
      ]);
      token = await memberToken(MEMBER);
    });

    it("requires a token: HTTP 401 with WWW-Authenticate: Bearer", async (t) => {
      for (const g of [prod, open]) {
        const r = await post(g.url, TASKS);
        said(t, "query without a token (NODE_ENV=production)", r);
        assert.equal(r.status, 401);
        assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer realm="brewgate"/);
        assert.equal(r.errors?.[0].extensions?.code, "UNAUTHENTICATED");
        noStack("401", JSON.stringify(r.errors));
      }
      const s = await connectSocket(prod.url);
      await s.close();
      assert.deepEqual(s.outcome, {
        code: 4401,
        reason: "authentication required: send Authorization: Bearer <token or API key>",
      });
    });

    it("refuses introspection even with a valid token, suggests no field names, serves no IDE, shows no stack", async (t) => {
      const ok = await post(prod.url, TASKS, undefined, token);
      assert.equal(ok.status, 200, JSON.stringify(ok.errors));
      for (const query of [
        "{ __schema { types { name } } }",
        '{ __type(name: "Query") { fields { name } } }',
      ]) {
        const r = await post(prod.url, query, undefined, token);
        said(t, `${query} with a member token (NODE_ENV=production)`, r);
        assert.equal(r.status, 400);
        assert.equal(r.errors?.[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
        assert.match(r.errors?.[0].message ?? "", /introspection is not allowed/);
        assert.equal(r.data, undefined);
        noStack("introspection", JSON.stringify(r.errors));
      }
      const typo = await post(prod.url, "{ taks { name } }", undefined, token);
      said(t, "{ taks { name } } (NODE_ENV=production)", typo);
      assert.equal(typo.errors?.[0].message, 'Cannot query field "taks" on type "Query".');
      noStack("a misspelled field", JSON.stringify(typo.errors));
      const ws = wsClient(prod.url, bearer(token));
      try {
        const sub = subscribe(ws, "subscription { livePredicitons { reason } }", {});
        await sub.end();
        const errors = sub.error as GqlError[];
        assert.ok(Array.isArray(errors), errText(sub.error));
        said(t, "subscription { livePredicitons { reason } } over WebSocket (NODE_ENV=production)", {
          errors,
        });
        assert.equal(errors[0].extensions?.code, "GRAPHQL_VALIDATION_FAILED");
        assert.equal(errors[0].message, 'Cannot query field "livePredicitons" on type "Subscription".');
      } finally {
        await ws.dispose();
      }
      for (const path of ["/", "/playground", "/ide"]) {
        const res = await root(prod, path);
        const text = await res.text();
        t.diagnostic(`GET ${path} (NODE_ENV=production) -> HTTP ${res.status}`);
        assert.equal(res.status, 404, path);
        noStack(path, text);
      }
      // A body that is not JSON: the parser's error, without its stack.
      const bad = await fetch(prod.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(token) },
        body: '{"query": ',
        signal: AbortSignal.timeout(10_000),
      });
      const badText = await bad.text();
      t.diagnostic(
        `POST /graphql with a truncated JSON body (NODE_ENV=production) -> HTTP ${bad.status} ${badText.slice(0, 200)}`,
      );
      assert.equal(bad.status, 400);
      noStack("a malformed body", badText);
      assert.equal(JSON.parse(badText).errors[0].extensions.code, "BAD_REQUEST");
      // A body over the 4 MiB the gateway reads.
      const huge = await fetch(prod.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(token) },
        body: JSON.stringify({ query: TASKS, variables: { pad: "x".repeat(5 * 1024 * 1024) } }),
        signal: AbortSignal.timeout(10_000),
      });
      const hugeText = await huge.text();
      t.diagnostic(
        `POST /graphql with a 5 MiB body (NODE_ENV=production) -> HTTP ${huge.status} ${hugeText}`,
      );
      assert.equal(huge.status, 413);
      noStack("a body over the limit", hugeText);
    });

    it("with INTROSPECTION_ENABLED=true and IDE_ENABLED=true, introspection, suggestions and the IDE come back", async () => {
      const r = await post<{ __schema: { types: { name: string }[] } }>(
        open.url,
        "{ __schema { types { name } } }",
        undefined,
        token,
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.ok(r.data?.__schema.types.some((x) => x.name === "RecommendationsType"));
      const typo = await post(open.url, "{ taks { name } }", undefined, token);
      assert.match(typo.errors?.[0].message ?? "", /Did you mean "task" or "tasks"\?/);
      for (const path of ["/", "/playground"]) {
        const res = await root(open, path);
        assert.equal(res.status, 200, path);
        assert.match(res.headers.get("content-type") ?? "", /text\/html/);
        await res.text();
      }
    });
  });
});
