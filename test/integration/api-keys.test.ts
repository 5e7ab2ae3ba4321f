import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiKeyVerifier, createApiKey, parseApiKey } from "../../src/auth/api-keys";
import { JwtVerifier } from "../../src/auth/jwt";
import type { Principal } from "../../src/auth/principal";
import { loadConfig } from "../../src/config";
import { revokeApiKey } from "../../src/db/api-keys";
import { createDb, type Db, sql } from "../../src/db/client";
import { DomainError } from "../../src/domain/errors";
import { REPO_ROOT } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const KEY_SHAPE = /^bgk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

async function refused(p: Promise<Principal>, why: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DomainError, `expected a DomainError, got ${String(err)}`);
    assert.equal(err.code, "UNAUTHENTICATED");
    assert.match(err.message, why);
    return true;
  });
}

const NOT_VALID = /the API key is not valid \(unknown, revoked or expired\)/;

/** Every column of the key's row, as PostgreSQL gives it. */
async function rawRow(db: Db, id: string): Promise<Record<string, unknown>> {
  const rows = await sql<Record<string, unknown>>(db, `SELECT * FROM "ApiKey" WHERE id = $1`, [id]);
  assert.equal(rows.length, 1);
  return rows[0];
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/scripts/NAME.js ARGS` as a person runs it, in a directory of its own (no .env). */
function runScript(
  name: string,
  cwd: string,
  env: Record<string, string>,
  args: string[],
): Promise<Finished> {
  const base = { ...process.env };
  for (const k of Object.keys(base)) {
    if (k === "DATABASE_URL" || k === "NODE_ENV" || k.startsWith("AUTH_") || k === "DATA_DIR") delete base[k];
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, "dist", "scripts", `${name}.js`), ...args],
      { cwd, env: { ...base, DATA_DIR: join(cwd, ".data"), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null;
        resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr });
      },
    );
  });
}

describe("API keys (real PostgreSQL)", () => {
  let pg: TestDatabase;
  let db: Db;
  let cwd: string;

  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url, { max: 2 });
    cwd = await mkdtemp(join(tmpdir(), "brewgate-apikey-"));
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  describe("createApiKey and ApiKeyVerifier", () => {
    it("creates a bgk_ key whose row holds only the SHA-256 of its secret", async () => {
      const { key, row } = await createApiKey(db, { name: "  billing  ", role: "service" });
      assert.match(key, KEY_SHAPE);
      const parsed = parseApiKey(key);
      assert.ok(parsed);
      assert.equal(row.id, parsed.id);
      assert.equal(row.name, "billing");
      const raw = await rawRow(db, parsed.id);
      assert.equal(raw.secretHash, sha256(parsed.secret));
      assert.match(String(raw.secretHash), /^[0-9a-f]{64}$/);
      const stored = JSON.stringify(raw);
      assert.ok(!stored.includes(parsed.secret), "the secret is stored nowhere in the row");
      assert.ok(!stored.includes(key), "the key is stored nowhere in the row");
      assert.deepEqual(
        { role: raw.role, memberId: raw.memberId, expiresAt: raw.expiresAt, revokedAt: raw.revokedAt },
        { role: "service", memberId: null, expiresAt: null, revokedAt: null },
      );
      // Two keys never share an id or a secret.
      const again = parseApiKey((await createApiKey(db, { name: "billing", role: "service" })).key);
      assert.notEqual(again?.id, parsed.id);
      assert.notEqual(again?.secret, parsed.secret);
    });

    it("accepts a key as its role, and a member key as its member", async () => {
      const v = new ApiKeyVerifier(db, 0);
      const service = await createApiKey(db, { name: "svc", role: "service" });
      assert.deepEqual(await v.verify(service.key), {
        role: "service",
        memberId: null,
        key: `key:${service.row.id}`,
        expiresAt: null,
        via: "api-key",
      });
      const admin = await createApiKey(db, { name: "ops", role: "admin" });
      assert.deepEqual(
        { role: (await v.verify(admin.key)).role, memberId: (await v.verify(admin.key)).memberId },
        { role: "admin", memberId: null },
      );
      const expiresAt = new Date(Date.now() + 3_600_000);
      const mine = await createApiKey(db, { name: "app", role: "member", memberId: "m-1", expiresAt });
      const p = await v.verify(mine.key);
      assert.deepEqual(
        { role: p.role, memberId: p.memberId, key: p.key, expiresAt: p.expiresAt },
        { role: "member", memberId: "m-1", key: `key:${mine.row.id}`, expiresAt: expiresAt.getTime() },
      );
    });

    it("refuses what createApiKey cannot make", async () => {
      await assert.rejects(createApiKey(db, { name: " ", role: "service" }), /needs a name/);
      await assert.rejects(
        createApiKey(db, { name: "x", role: "member" }),
        /member key needs the member's id/,
      );
      await assert.rejects(
        createApiKey(db, { name: "x", role: "service", memberId: "m-1" }),
        /service key acts for no one member/,
      );
    });

    it("refuses a wrong secret, a malformed key and an unknown id", async () => {
      const v = new ApiKeyVerifier(db, 60_000);
      const { key } = await createApiKey(db, { name: "svc", role: "service" });
      const { id, secret } = parseApiKey(key) as { id: string; secret: string };
      const otherSecret = randomBytes(32).toString("base64url");
      await refused(v.verify(`bgk_${id}_${otherSecret}`), NOT_VALID);
      // One character of the secret changed.
      const flipped = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
      await refused(v.verify(`bgk_${id}_${flipped}`), NOT_VALID);
      await refused(v.verify(`bgk_${randomBytes(8).toString("hex")}_${secret}`), NOT_VALID);
      for (const bad of [
        "bgk_",
        "bgk_nothex_secret",
        `bgk_${id}`,
        `${key}x`,
        `bgk_${id.toUpperCase()}_${secret}`,
        ` ${key}`,
      ]) {
        await refused(v.verify(bad), /malformed \(expected bgk_<id>_<secret>\)/);
      }
      // The right key still works after all of that.
      assert.equal((await v.verify(key)).role, "service");
    });

    it("refuses an expired key", async () => {
      const v = new ApiKeyVerifier(db, 0);
      const past = await createApiKey(db, {
        name: "old",
        role: "service",
        expiresAt: new Date(Date.now() - 1000),
      });
      await refused(v.verify(past.key), NOT_VALID);
      const soon = new Date(Date.now() + 60_000);
      const { key } = await createApiKey(db, { name: "soon", role: "service", expiresAt: soon });
      assert.equal((await v.verify(key)).role, "service");
      await refused(v.verify(key, soon.getTime()), NOT_VALID);
      await refused(v.verify(key, soon.getTime() + 1), NOT_VALID);
    });

    it("refuses a revoked key", async () => {
      const { key, row } = await createApiKey(db, { name: "leaked", role: "admin" });
      assert.equal((await new ApiKeyVerifier(db, 0).verify(key)).role, "admin");
      assert.equal(await revokeApiKey(db, row.id), true);
      await refused(new ApiKeyVerifier(db, 0).verify(key), NOT_VALID);
      assert.equal(await revokeApiKey(db, "0000000000000000"), false);
    });

    it("sees a revocation once the cache TTL has passed", async () => {
      const ttlMs = 1000;
      const v = new ApiKeyVerifier(db, ttlMs);
      const { key, row } = await createApiKey(db, { name: "cached", role: "service" });
      const t0 = Date.now();
      assert.equal((await v.verify(key, t0)).role, "service");
      await revokeApiKey(db, row.id);
      // Within the TTL the row read at t0 is still trusted: the documented delay.
      assert.equal((await v.verify(key, t0 + ttlMs - 1)).role, "service");
      await refused(v.verify(key, t0 + ttlMs), NOT_VALID);
      await refused(v.verify(key, t0 + ttlMs + 1), NOT_VALID);
      // With a TTL of 0 every check reads the row.
      const uncached = new ApiKeyVerifier(db, 0);
      const other = await createApiKey(db, { name: "uncached", role: "service" });
      assert.equal((await uncached.verify(other.key)).role, "service");
      await revokeApiKey(db, other.row.id);
      await refused(uncached.verify(other.key), NOT_VALID);
    });

    it("checks the secret of every call against a cached row", async () => {
      const v = new ApiKeyVerifier(db, 60_000);
      const { key } = await createApiKey(db, { name: "svc", role: "service" });
      const { id } = parseApiKey(key) as { id: string };
      assert.equal((await v.verify(key)).role, "service");
      await refused(v.verify(`bgk_${id}_${randomBytes(32).toString("base64url")}`), NOT_VALID);
    });
  });

  describe("npm run apikey (node dist/scripts/apikey.js)", () => {
    const env = () => ({ DATABASE_URL: pg.url });

    it("creates a key: stdout is exactly the key, and it verifies", async () => {
      const r = await runScript("apikey", cwd, env(), ["create", "--name", "ci", "--role", "service"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^bgk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
      const key = r.stdout.trim();
      const { id } = parseApiKey(key) as { id: string };
      assert.match(r.stderr, new RegExp(`created API key ${id} \\(service, 'ci'\\); it is shown once`));
      const p = await new ApiKeyVerifier(db, 0).verify(key);
      assert.deepEqual(
        { role: p.role, memberId: p.memberId, key: p.key },
        { role: "service", memberId: null, key: `key:${id}` },
      );
    });

    it("creates a member key for its member, with an expiry", async () => {
      const r = await runScript("apikey", cwd, env(), [
        "create",
        "--name",
        "app",
        "--role",
        "member",
        "--member",
        "m-9",
        "--expires-days",
        "2",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const p = await new ApiKeyVerifier(db, 0).verify(r.stdout.trim());
      assert.deepEqual({ role: p.role, memberId: p.memberId }, { role: "member", memberId: "m-9" });
      const days = ((p.expiresAt as number) - Date.now()) / 86_400_000;
      assert.ok(days > 1.99 && days <= 2, `expires in ${days} days`);
    });

    it("lists keys with id and role and no secret; revoke --id makes the key fail", async () => {
      const created = await runScript("apikey", cwd, env(), [
        "create",
        "--name",
        "to-revoke",
        "--role",
        "admin",
      ]);
      assert.equal(created.code, 0, created.stderr);
      const key = created.stdout.trim();
      const { id, secret } = parseApiKey(key) as { id: string; secret: string };

      const list = await runScript("apikey", cwd, env(), ["list"]);
      assert.equal(list.code, 0, list.stderr);
      const line = list.stdout.split("\n").find((l) => l.startsWith(id));
      assert.ok(line, `no line for ${id} in:\n${list.stdout}`);
      assert.match(line, /^[0-9a-f]{16} {2}admin +- +active {2}to-revoke$/);
      assert.ok(!list.stdout.includes(secret), "list shows no secret");
      assert.ok(!list.stdout.includes(sha256(secret)), "list shows no hash");
      assert.ok(!list.stdout.includes("bgk_"), "list shows no key");

      const revoke = await runScript("apikey", cwd, env(), ["revoke", "--id", id]);
      assert.equal(revoke.code, 0, revoke.stderr);
      assert.match(revoke.stderr, new RegExp(`revoked API key ${id}`));
      await refused(new ApiKeyVerifier(db, 0).verify(key), NOT_VALID);
      const after = await runScript("apikey", cwd, env(), ["list"]);
      assert.match(
        after.stdout,
        new RegExp(`^${id} {2}admin .* revoked \\d{4}-\\d\\d-\\d\\dT[^ ]+Z {2}to-revoke$`, "m"),
      );

      const unknown = await runScript("apikey", cwd, env(), ["revoke", "--id", "ffffffffffffffff"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /apikey: no API key 'ffffffffffffffff'/);
    });

    it("exits 2 with the usage on bad arguments, and 1 on a key it cannot make", async () => {
      const cases: [string[], RegExp][] = [
        [[], /expected a command: create, list or revoke; got ''/],
        [["make"], /expected a command: create, list or revoke; got 'make'/],
        [["create", "--role", "service"], /--name is required/],
        [["create", "--name", "ci"], /--role must be service, admin or member/],
        [["create", "--name", "ci", "--role", "root"], /--role must be service, admin or member/],
        [
          ["create", "--name", "ci", "--role", "service", "--expires-days", "0"],
          /--expires-days must be a positive number/,
        ],
        [["revoke"], /--id is required/],
        [["list", "--bogus"], /bogus/],
        [["list", "extra"], /extra/],
      ];
      const results = await Promise.all(cases.map(([args]) => runScript("apikey", cwd, env(), args)));
      for (const [i, [args, why]] of cases.entries()) {
        const r = results[i];
        assert.equal(r.code, 2, `apikey ${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, why);
        assert.match(r.stderr, /Usage: npm run apikey -- create --name NAME --role service\|admin\|member/);
        assert.equal(r.stdout, "");
      }
      const r = await runScript("apikey", cwd, env(), ["create", "--name", "x", "--role", "member"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /a member key needs the member's id/);
      assert.doesNotMatch(r.stderr, /Usage:/);
    });
  });

  describe("npm run token (node dist/scripts/token.js)", () => {
    const AUTH = {
      AUTH_JWT_SECRET: randomBytes(32).toString("base64url"),
      AUTH_JWT_ISSUER: "brewgate-local",
      AUTH_JWT_AUDIENCE: "brewgate",
    };

    it("prints a JWT the gateway's verifier accepts as the member", async () => {
      const r = await runScript("token", cwd, AUTH, ["--role", "member", "--member", "m-1", "--ttl", "120"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const p = await new JwtVerifier(loadConfig(AUTH)).verify(r.stdout.trim());
      assert.deepEqual(
        { role: p.role, memberId: p.memberId, via: p.via },
        { role: "member", memberId: "m-1", via: "jwt" },
      );
      const left = (p.expiresAt as number) - Date.now();
      assert.ok(left > 100_000 && left <= 120_000, `expires in ${left} ms`);
      // Another gateway's secret does not accept it.
      const other = loadConfig({ ...AUTH, AUTH_JWT_SECRET: randomBytes(32).toString("base64url") });
      await assert.rejects(new JwtVerifier(other).verify(r.stdout.trim()), /signature does not verify/);
    });

    it("prints a service token", async () => {
      const r = await runScript("token", cwd, AUTH, ["--role", "service", "--subject", "billing"]);
      assert.equal(r.code, 0, r.stderr);
      const p = await new JwtVerifier(loadConfig(AUTH)).verify(r.stdout.trim());
      assert.deepEqual({ role: p.role, memberId: p.memberId }, { role: "service", memberId: null });
      assert.match(p.key, /:billing$/);
    });

    it("exits 1 saying what to set without AUTH_JWT_SECRET, and 2 on bad arguments", async () => {
      const { AUTH_JWT_SECRET: _, ...noSecret } = AUTH;
      const r = await runScript("token", cwd, noSecret, ["--role", "member", "--member", "m-1"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /set AUTH_JWT_SECRET, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE/);
      assert.equal(r.stdout, "");
      const bare = await runScript("token", cwd, {}, ["--role", "admin"]);
      assert.equal(bare.code, 1, bare.stderr);
      assert.match(bare.stderr, /set AUTH_JWT_SECRET/);

      const noMember = await runScript("token", cwd, AUTH, ["--role", "member"]);
      assert.equal(noMember.code, 2);
      assert.match(noMember.stderr, /--member is required for a member token/);
      assert.match(noMember.stderr, /Usage: npm run token/);
      const badRole = await runScript("token", cwd, AUTH, ["--role", "root"]);
      assert.equal(badRole.code, 2);
      assert.match(badRole.stderr, /--role must be member, service or admin/);
    });
  });
});
