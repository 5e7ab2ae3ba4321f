import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { anonymousPrincipal, type Principal, type Role } from "../../src/auth/principal";
import { RateLimits } from "../../src/auth/rate-limit";
import { DomainError } from "../../src/domain/errors";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A principal of its own per call, so that counters never carry over between tests or runs. */
const RUN = randomBytes(6).toString("hex");
let n = 0;
function principal(role: Role, via: Principal["via"] = "jwt"): Principal {
  const key = `test-${RUN}-${++n}`;
  return { role, memberId: role === "member" ? key : null, key: `jwt:${key}`, expiresAt: null, via };
}

/** Rejects with RATE_LIMITED; returns the error for further checks. */
async function limited(p: Promise<void>, why: RegExp): Promise<DomainError> {
  let caught: DomainError | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DomainError, `expected a DomainError, got ${String(err)}`);
    assert.equal(err.code, "RATE_LIMITED");
    assert.match(err.message, why);
    caught = err;
    return true;
  });
  return caught as DomainError;
}

function retryAfter(err: DomainError): number {
  const s = err.details.retryAfterSeconds;
  assert.equal(typeof s, "number");
  return s as number;
}

describe("rate limits in memory (src/auth/rate-limit.ts)", () => {
  it("spends an operation's cost from a member's window, then refuses with the seconds to wait", async () => {
    const limits = new RateLimits({ windowSeconds: 60, memberPoints: 10, servicePoints: 1000 });
    const me = principal("member");
    await limits.consume(me, 4);
    await limits.consume(me, 6);
    const err = await limited(
      limits.consume(me, 1),
      /rate limit reached: 10 points per 60 s; retry in \d+ s/,
    );
    const s = retryAfter(err);
    assert.ok(s >= 1 && s <= 60, `retryAfterSeconds ${s}`);
    assert.ok(Number.isInteger(s));
    // Another member has a window of its own.
    await limits.consume(principal("member"), 10);
  });

  it("spends at least one point per operation, rounding fractions up", async () => {
    const limits = new RateLimits({ windowSeconds: 60, memberPoints: 3, servicePoints: 0 });
    const me = principal("member");
    await limits.consume(me, 0);
    await limits.consume(me, 0.2);
    await limits.consume(me, 0);
    await limited(limits.consume(me, 0), /3 points per 60 s/);

    const other = principal("member");
    await limits.consume(other, 2.1); // 3 points
    await limited(limits.consume(other, 0), /rate limit reached/);
  });

  it("gives services and admins their own budget, and each address calling without credentials", async () => {
    const limits = new RateLimits({ windowSeconds: 60, memberPoints: 5, servicePoints: 50 });
    const svc = principal("service", "api-key");
    const admin = principal("admin");
    await limits.consume(svc, 45);
    await limits.consume(admin, 50);
    await limited(limits.consume(svc, 6), /50 points per 60 s/);
    await limited(limits.consume(admin, 1), /50 points per 60 s/);
    // Where authentication is optional, a caller without credentials spends the service budget,
    // counted per address.
    const anon = anonymousPrincipal(`10.${RUN}`);
    await limits.consume(anon, 50);
    await limited(limits.consume(anon, 1), /50 points per 60 s/);
    await limits.consume(anonymousPrincipal(`11.${RUN}`), 50);
    // A member that spent its window leaves the services untouched, and the other way round.
    const me = principal("member");
    await limits.consume(me, 5);
    await limited(limits.consume(me, 1), /5 points per 60 s/);
    await limits.consume(principal("service"), 50);
  });

  it("does not limit at all with 0 points", async () => {
    const limits = new RateLimits({ windowSeconds: 1, memberPoints: 0, servicePoints: 0 });
    for (const p of [
      principal("member"),
      principal("service"),
      principal("admin"),
      anonymousPrincipal("x"),
    ]) {
      for (let i = 0; i < 50; i++) await limits.consume(p, 1_000_000);
    }
    // One budget off, the other still counts.
    const half = new RateLimits({ windowSeconds: 60, memberPoints: 0, servicePoints: 2 });
    const me = principal("member");
    for (let i = 0; i < 10; i++) await half.consume(me, 100);
    const svc = principal("service");
    await half.consume(svc, 2);
    await limited(half.consume(svc, 1), /2 points per 60 s/);
  });

  it("says when one operation costs more than a whole window, and spends nothing on it", async () => {
    const limits = new RateLimits({ windowSeconds: 60, memberPoints: 10, servicePoints: 100 });
    const me = principal("member");
    const err = await limited(
      limits.consume(me, 11),
      /this operation costs 11 points, more than the 10 a window allows/,
    );
    assert.ok(retryAfter(err) >= 1);
    // The refused operation did not use up the window: a cheaper one still runs.
    await limits.consume(me, 10);
    const svc = principal("service");
    await limited(limits.consume(svc, 101), /costs 101 points, more than the 100/);
    await limits.consume(svc, 100);
  });

  it("opens a new window once the old one has passed", async () => {
    const limits = new RateLimits({ windowSeconds: 1, memberPoints: 2, servicePoints: 0 });
    const me = principal("member");
    await limits.consume(me, 2);
    const err = await limited(limits.consume(me, 1), /2 points per 1 s/);
    assert.equal(retryAfter(err), 1);
    await new Promise((r) => setTimeout(r, 1100));
    await limits.consume(me, 2);
  });
});

describe("rate limits shared through Redis (real Redis)", () => {
  const clients: Redis[] = [];
  let admin: Redis;
  const client = (url = REDIS_URL, opts: Record<string, unknown> = {}) => {
    // As the gateway makes it (src/gateway.ts): no offline queue, so an outage fails fast.
    const c = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...opts });
    clients.push(c);
    return c;
  };
  const ready = (c: Redis) =>
    c.status === "ready"
      ? Promise.resolve()
      : new Promise<void>((resolve) => c.once("ready", () => resolve()));

  before(async () => {
    admin = new Redis(REDIS_URL);
    await admin.ping();
  });
  after(async () => {
    // Leave no counters behind (they would expire with their window anyway).
    const keys = await admin.keys(`brewgate:rl:*test-${RUN}-*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    for (const c of clients) c.disconnect();
  });

  it("makes two replicas spend from one counter per principal", async () => {
    const [a, b] = [client(), client()];
    await Promise.all([ready(a), ready(b)]);
    const replicaA = new RateLimits({ windowSeconds: 60, memberPoints: 10, servicePoints: 100, redis: a });
    const replicaB = new RateLimits({ windowSeconds: 60, memberPoints: 10, servicePoints: 100, redis: b });
    const me = principal("member");
    await replicaA.consume(me, 4);
    await replicaB.consume(me, 5);
    assert.equal(await admin.get(`brewgate:rl:member:${me.key}`), "9");
    const ttl = await admin.pttl(`brewgate:rl:member:${me.key}`);
    assert.ok(ttl > 0 && ttl <= 60_000, `counter expires with the window (pttl ${ttl})`);
    await replicaA.consume(me, 1);
    const errB = await limited(replicaB.consume(me, 1), /10 points per 60 s/);
    const errA = await limited(replicaA.consume(me, 1), /10 points per 60 s/);
    for (const err of [errA, errB]) {
      const s = retryAfter(err);
      assert.ok(s >= 1 && s <= 60, `retryAfterSeconds ${s}`);
    }
    // Services count in a counter of their own, shared as well.
    const svc = principal("service");
    await replicaA.consume(svc, 60);
    await limited(replicaB.consume(svc, 41), /100 points per 60 s/);
    await replicaB.consume(principal("service"), 100);
    assert.equal(await admin.get(`brewgate:rl:service:${svc.key}`), "101");
  });

  it("falls back to each replica's own memory counter while Redis cannot be reached", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = client(`redis://127.0.0.1:${port}`, { retryStrategy: () => null });
    down.on("error", () => {});
    const limits = new RateLimits({ windowSeconds: 60, memberPoints: 3, servicePoints: 0, redis: down });
    const me = principal("member");
    const started = Date.now();
    await limits.consume(me, 2);
    await limits.consume(me, 1);
    await limited(limits.consume(me, 1), /3 points per 60 s/);
    assert.ok(Date.now() - started < 5_000, "an outage does not hold operations up");
  });
});
