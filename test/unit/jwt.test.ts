import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { JwtVerifier } from "../../src/auth/jwt";
import type { Principal } from "../../src/auth/principal";
import { loadConfig } from "../../src/config";
import { DomainError, type ErrorCode } from "../../src/domain/errors";

const ISSUER = "https://idp.test/";
const AUDIENCE = "brewgate-test";
const SECRET = "a-shared-secret-of-at-least-32-characters!";
const now = () => Math.floor(Date.now() / 1000);

/** A JWKS endpoint on a free loopback port; `requests` counts its fetches. */
interface JwksServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

async function serveJwks(respond: (res: import("node:http").ServerResponse) => void): Promise<JwksServer> {
  const state = { requests: 0 };
  const server: Server = createServer((_req, res) => {
    state.requests++;
    respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A free loopback port with nothing listening on it. */
async function deadUrl(): Promise<string> {
  const s = await serveJwks((res) => res.end());
  await s.close();
  return s.url;
}

function verifier(env: Record<string, string>): JwtVerifier {
  return new JwtVerifier(loadConfig({ AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, ...env }));
}

interface SignOptions {
  alg: string;
  key: CryptoKey | Uint8Array;
  kid?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; null: no exp claim. */
  expiresIn?: number | null;
  notBefore?: number;
}

function sign(claims: JWTPayload, o: SignOptions): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: o.alg, typ: "JWT", ...(o.kid ? { kid: o.kid } : {}) })
    .setIssuer(o.issuer ?? ISSUER)
    .setAudience(o.audience ?? AUDIENCE)
    .setIssuedAt();
  const expiresIn = o.expiresIn === undefined ? 300 : o.expiresIn;
  if (expiresIn !== null) jwt.setExpirationTime(now() + expiresIn);
  if (o.notBefore !== undefined) jwt.setNotBefore(now() + o.notBefore);
  return jwt.sign(o.key);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Rejects with a DomainError of `code` whose message matches `why`. */
async function refused(p: Promise<Principal>, code: ErrorCode, why: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DomainError, `expected a DomainError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, why);
    return true;
  });
}

describe("JwtVerifier (real jose, real keys)", () => {
  let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
  let otherRsa: { publicKey: CryptoKey; privateKey: CryptoKey };
  let ec: { publicKey: CryptoKey; privateKey: CryptoKey };
  let otherEc: { publicKey: CryptoKey; privateKey: CryptoKey };
  let ecPem: string;
  let rsaPem: string;
  let jwks: JwksServer;
  let dir: string;
  const secret = new TextEncoder().encode(SECRET);

  before(async () => {
    [rsa, otherRsa, ec, otherEc] = await Promise.all([
      generateKeyPair("RS256"),
      generateKeyPair("RS256"),
      generateKeyPair("ES256"),
      generateKeyPair("ES256"),
    ]);
    ecPem = await exportSPKI(ec.publicKey);
    rsaPem = await exportSPKI(rsa.publicKey);
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
    ];
    jwks = await serveJwks((res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys }));
    });
    dir = await mkdtemp(join(tmpdir(), "brewgate-jwt-"));
  });
  after(async () => {
    await jwks.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe("RS256 through AUTH_JWKS_URL", () => {
    const rs = (claims: JWTPayload, o: Partial<SignOptions> = {}) =>
      sign(claims, { alg: "RS256", key: rsa.privateKey, kid: "rsa-1", ...o });

    it("accepts a member token as that member, with its expiry and a stable key", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const token = await rs({ sub: "m-1", scope: "brewgate:member" }, { expiresIn: 600 });
      const exp = now() + 600;
      const p = await v.verify(token);
      assert.equal(p.role, "member");
      assert.equal(p.memberId, "m-1");
      assert.equal(p.via, "jwt");
      assert.equal(p.key, `jwt:${ISSUER}:m-1`);
      assert.ok(
        p.expiresAt !== null && Math.abs(p.expiresAt - exp * 1000) <= 1000,
        `expiresAt ${p.expiresAt}`,
      );
      assert.equal((p.expiresAt as number) % 1000, 0, "exp is whole seconds, in ms");
    });

    it("maps service and admin scopes, from a `scope` string or an `scp` list, to no member", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const service = await v.verify(await rs({ sub: "billing", scope: "openid brewgate:service profile" }));
      assert.deepEqual(
        { role: service.role, memberId: service.memberId, key: service.key },
        { role: "service", memberId: null, key: `jwt:${ISSUER}:billing` },
      );
      const admin = await v.verify(await rs({ sub: "ops", scp: ["read", "brewgate:admin"] }));
      assert.deepEqual({ role: admin.role, memberId: admin.memberId }, { role: "admin", memberId: null });
      const scpString = await v.verify(await rs({ sub: "svc", scp: "brewgate:service" }));
      assert.equal(scpString.role, "service");
      // The highest role a token names wins, and a service token carries no member even with a sub.
      const both = await v.verify(await rs({ sub: "m-2", scope: "brewgate:member brewgate:admin" }));
      assert.deepEqual({ role: both.role, memberId: both.memberId }, { role: "admin", memberId: null });
    });

    it("fetches the JWKS once for many tokens", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const before = jwks.requests;
      for (let i = 0; i < 5; i++) await v.verify(await rs({ sub: `m-${i}`, scope: "brewgate:member" }));
      assert.equal(jwks.requests - before, 1);
    });

    it("refuses a token signed by another key under a known kid", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const forged = await sign(
        { sub: "m-1", scope: "brewgate:admin" },
        { alg: "RS256", key: otherRsa.privateKey, kid: "rsa-1" },
      );
      await refused(v.verify(forged), "UNAUTHENTICATED", /signature does not verify/);
    });

    it("refuses a token whose kid the JWKS does not hold", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const token = await sign(
        { sub: "m-1", scope: "brewgate:member" },
        { alg: "RS256", key: otherRsa.privateKey, kid: "rsa-unknown" },
      );
      await refused(v.verify(token), "UNAUTHENTICATED", /no key of the JWKS matches/);
    });

    it("refuses the wrong issuer and the wrong audience, naming the claim", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      await refused(
        v.verify(await rs({ sub: "m-1", scope: "brewgate:member" }, { issuer: "https://evil.test/" })),
        "UNAUTHENTICATED",
        /'iss' claim is not accepted/,
      );
      await refused(
        v.verify(await rs({ sub: "m-1", scope: "brewgate:member" }, { audience: "another-api" })),
        "UNAUTHENTICATED",
        /'aud' claim is not accepted/,
      );
    });

    it("refuses an expired token, but not within AUTH_CLOCK_TOLERANCE_S", async () => {
      const claims = { sub: "m-1", scope: "brewgate:member" };
      const tolerant = verifier({ AUTH_JWKS_URL: jwks.url, AUTH_CLOCK_TOLERANCE_S: "60" });
      const strict = verifier({ AUTH_JWKS_URL: jwks.url, AUTH_CLOCK_TOLERANCE_S: "0" });
      const justExpired = await rs(claims, { expiresIn: -20 });
      assert.equal((await tolerant.verify(justExpired)).memberId, "m-1");
      await refused(strict.verify(justExpired), "UNAUTHENTICATED", /expired/);
      await refused(tolerant.verify(await rs(claims, { expiresIn: -120 })), "UNAUTHENTICATED", /expired/);
    });

    it("refuses a token that is not valid yet (nbf beyond the tolerance)", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url, AUTH_CLOCK_TOLERANCE_S: "30" });
      const claims = { sub: "m-1", scope: "brewgate:member" };
      await refused(v.verify(await rs(claims, { notBefore: 300 })), "UNAUTHENTICATED", /'nbf' claim/);
      assert.equal((await v.verify(await rs(claims, { notBefore: 10 }))).role, "member");
    });

    it("refuses a token without exp", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const token = await rs({ sub: "m-1", scope: "brewgate:member" }, { expiresIn: null });
      await refused(v.verify(token), "UNAUTHENTICATED", /'exp' claim is not accepted \(missing\)/);
    });

    it("refuses an unsigned `alg: none` token", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const payload = { sub: "m-1", scope: "brewgate:admin", iss: ISSUER, aud: AUDIENCE, exp: now() + 300 };
      const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
      await refused(v.verify(unsigned), "UNAUTHENTICATED", /algorithm is not accepted/);
      const noneWithKid = `${b64url({ alg: "none", kid: "rsa-1" })}.${b64url(payload)}.`;
      await refused(v.verify(noneWithKid), "UNAUTHENTICATED", /algorithm is not accepted/);
    });

    it("refuses garbage as not a JWT", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      await refused(v.verify("not.a.jwt"), "UNAUTHENTICATED", /not a valid JWT/);
      await refused(v.verify("abc"), "UNAUTHENTICATED", /not a valid JWT/);
    });

    it("refuses an HS256 token when only the JWKS is configured", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      const hs = await sign(
        { sub: "m-1", scope: "brewgate:admin" },
        { alg: "HS256", key: secret, kid: "rsa-1" },
      );
      await refused(v.verify(hs), "UNAUTHENTICATED", /algorithm is not accepted/);
    });

    it("refuses a token with no brewgate scope as FORBIDDEN", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      await refused(
        v.verify(await rs({ sub: "m-1", scope: "openid profile" })),
        "FORBIDDEN",
        /grants no brewgate scope .*brewgate:member/,
      );
      await refused(v.verify(await rs({ sub: "m-1" })), "FORBIDDEN", /no brewgate scope/);
    });

    it("refuses a member token that names no member", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url });
      await refused(
        v.verify(await rs({ scope: "brewgate:member" })),
        "UNAUTHENTICATED",
        /member token must name its member in the 'sub' claim/,
      );
      await refused(v.verify(await rs({ sub: "", scope: "brewgate:member" })), "UNAUTHENTICATED", /'sub'/);
    });

    it("reads the member from AUTH_MEMBER_CLAIM when set", async () => {
      const v = verifier({ AUTH_JWKS_URL: jwks.url, AUTH_MEMBER_CLAIM: "member_id" });
      const p = await v.verify(await rs({ sub: "auth0|42", member_id: "m-7", scope: "brewgate:member" }));
      assert.deepEqual({ role: p.role, memberId: p.memberId }, { role: "member", memberId: "m-7" });
      await refused(
        v.verify(await rs({ sub: "m-1", scope: "brewgate:member" })),
        "UNAUTHENTICATED",
        /'member_id' claim/,
      );
      await refused(
        v.verify(await rs({ sub: "m-1", member_id: 7, scope: "brewgate:member" })),
        "UNAUTHENTICATED",
        /'member_id' claim/,
      );
    });

    it("accepts ES256 from the same JWKS, but not an algorithm left out of AUTH_JWT_ALGORITHMS", async () => {
      const token = await sign(
        { sub: "m-3", scope: "brewgate:member" },
        { alg: "ES256", key: ec.privateKey, kid: "ec-1" },
      );
      assert.equal((await verifier({ AUTH_JWKS_URL: jwks.url }).verify(token)).memberId, "m-3");
      const rsOnly = verifier({ AUTH_JWKS_URL: jwks.url, AUTH_JWT_ALGORITHMS: "RS256" });
      await refused(rsOnly.verify(token), "UNAUTHENTICATED", /algorithm is not accepted/);
    });
  });

  describe("a JWKS that cannot be fetched", () => {
    const member = { sub: "m-1", scope: "brewgate:member" };

    it("is UNAVAILABLE when nothing listens, not the caller's fault", async () => {
      const v = verifier({ AUTH_JWKS_URL: await deadUrl() });
      const token = await sign(member, { alg: "RS256", key: rsa.privateKey, kid: "rsa-1" });
      await refused(v.verify(token), "UNAVAILABLE", /could not be fetched/);
    });

    it("is UNAVAILABLE when the JWKS answers an error status or not a key set", async () => {
      const token = await sign(member, { alg: "RS256", key: rsa.privateKey, kid: "rsa-1" });
      const failing = await serveJwks((res) => {
        res.writeHead(503);
        res.end("down for maintenance");
      });
      const garbage = await serveJwks((res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ nope: true }));
      });
      try {
        await refused(
          verifier({ AUTH_JWKS_URL: failing.url }).verify(token),
          "UNAVAILABLE",
          /could not be fetched/,
        );
        await refused(
          verifier({ AUTH_JWKS_URL: garbage.url }).verify(token),
          "UNAVAILABLE",
          /could not be fetched/,
        );
      } finally {
        await failing.close();
        await garbage.close();
      }
    });

    it("is UNAVAILABLE when the JWKS does not answer within its timeout (5 s)", async () => {
      const token = await sign(member, { alg: "RS256", key: rsa.privateKey, kid: "rsa-1" });
      const silent = await serveJwks(() => {
        // never answers
      });
      try {
        const started = Date.now();
        await refused(
          verifier({ AUTH_JWKS_URL: silent.url }).verify(token),
          "UNAVAILABLE",
          /could not be fetched/,
        );
        assert.ok(Date.now() - started < 15_000);
      } finally {
        await silent.close();
      }
    });

    it("still refuses a malformed token as UNAUTHENTICATED without fetching", async () => {
      const v = verifier({ AUTH_JWKS_URL: await deadUrl() });
      await refused(v.verify("not.a.jwt"), "UNAUTHENTICATED", /not a valid JWT/);
    });
  });

  describe("ES256 through AUTH_JWT_PUBLIC_KEY", () => {
    const es = (key: CryptoKey, claims: JWTPayload = { sub: "m-5", scope: "brewgate:member" }) =>
      sign(claims, { alg: "ES256", key });

    it("accepts a token verified by the PEM text", async () => {
      const p = await verifier({ AUTH_JWT_PUBLIC_KEY: ecPem }).verify(await es(ec.privateKey));
      assert.deepEqual(
        { role: p.role, memberId: p.memberId, via: p.via },
        { role: "member", memberId: "m-5", via: "jwt" },
      );
    });

    it("accepts a token verified by a PEM file's path", async () => {
      const path = join(dir, "ec-public.pem");
      await writeFile(path, ecPem);
      const p = await verifier({ AUTH_JWT_PUBLIC_KEY: path }).verify(await es(ec.privateKey));
      assert.equal(p.memberId, "m-5");
    });

    it("refuses a token signed by another key", async () => {
      await refused(
        verifier({ AUTH_JWT_PUBLIC_KEY: ecPem }).verify(await es(otherEc.privateKey)),
        "UNAUTHENTICATED",
        /signature does not verify/,
      );
    });

    it("refuses an HS256 token signed with the public key's PEM as its secret (algorithm confusion)", async () => {
      for (const pem of [ecPem, rsaPem]) {
        const v = verifier({ AUTH_JWT_PUBLIC_KEY: pem });
        const confused = await sign(
          { sub: "m-1", scope: "brewgate:admin" },
          { alg: "HS256", key: new TextEncoder().encode(pem) },
        );
        await refused(v.verify(confused), "UNAUTHENTICATED", /algorithm is not accepted/);
      }
    });

    it("checks an HS256 token against the secret only, when both are configured", async () => {
      const v = verifier({ AUTH_JWT_PUBLIC_KEY: ecPem, AUTH_JWT_SECRET: SECRET });
      const confused = await sign(
        { sub: "m-1", scope: "brewgate:admin" },
        { alg: "HS256", key: new TextEncoder().encode(ecPem) },
      );
      await refused(v.verify(confused), "UNAUTHENTICATED", /signature does not verify/);
      assert.equal((await v.verify(await es(ec.privateKey))).memberId, "m-5");
      const hs = await sign({ sub: "m-6", scope: "brewgate:member" }, { alg: "HS256", key: secret });
      assert.equal((await v.verify(hs)).memberId, "m-6");
    });

    it("refuses a PEM that is not a public key, and a path that does not exist, when built", () => {
      assert.throws(
        () => verifier({ AUTH_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" }),
        /AUTH_JWT_PUBLIC_KEY does not hold a PEM public key/,
      );
      assert.throws(
        () => verifier({ AUTH_JWT_PUBLIC_KEY: join(dir, "missing.pem") }),
        /AUTH_JWT_PUBLIC_KEY: cannot read .*missing\.pem/,
      );
    });
  });

  describe("HS256 through AUTH_JWT_SECRET", () => {
    it("accepts a token signed with the secret", async () => {
      const v = verifier({ AUTH_JWT_SECRET: SECRET });
      const token = await sign({ sub: "ci", scope: "brewgate:service" }, { alg: "HS256", key: secret });
      const p = await v.verify(token);
      assert.deepEqual(
        { role: p.role, memberId: p.memberId, key: p.key },
        { role: "service", memberId: null, key: `jwt:${ISSUER}:ci` },
      );
    });

    it("refuses a token signed with another secret", async () => {
      const v = verifier({ AUTH_JWT_SECRET: SECRET });
      const token = await sign(
        { sub: "ci", scope: "brewgate:admin" },
        { alg: "HS256", key: new TextEncoder().encode(`${SECRET}-but-not-quite`) },
      );
      await refused(v.verify(token), "UNAUTHENTICATED", /signature does not verify/);
    });

    it("refuses RS256 and ES256 tokens when no public key is configured", async () => {
      const v = verifier({ AUTH_JWT_SECRET: SECRET });
      const rs = await sign({ sub: "m-1", scope: "brewgate:member" }, { alg: "RS256", key: rsa.privateKey });
      await refused(v.verify(rs), "UNAUTHENTICATED", /algorithm is not accepted/);
      const es = await sign({ sub: "m-1", scope: "brewgate:member" }, { alg: "ES256", key: ec.privateKey });
      await refused(v.verify(es), "UNAUTHENTICATED", /algorithm is not accepted/);
    });
  });

  describe("configuration", () => {
    it("requires AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE whenever a JWT key is configured", () => {
      const why = /AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE must be set when JWTs are verified/;
      for (const key of [
        { AUTH_JWKS_URL: "http://127.0.0.1:1/jwks.json" },
        { AUTH_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----" },
        { AUTH_JWT_SECRET: SECRET },
      ]) {
        assert.throws(() => loadConfig(key), why);
        assert.throws(() => loadConfig({ ...key, AUTH_JWT_ISSUER: ISSUER }), why);
        assert.throws(() => loadConfig({ ...key, AUTH_JWT_AUDIENCE: AUDIENCE }), why);
      }
      // Without a key, neither is needed.
      assert.equal(loadConfig({}).AUTH_JWT_ISSUER, undefined);
    });
  });

  describe("verified tokens kept until they expire", () => {
    const secret = new TextEncoder().encode("cache-test-secret-0123456789abcdef0123");
    const hs = verifier({
      AUTH_JWT_SECRET: "cache-test-secret-0123456789abcdef0123",
      AUTH_CLOCK_TOLERANCE_S: "0",
    });

    it("answers a token seen before with the same principal, and refuses it once expired", async () => {
      const token = await sign(
        { sub: "m-9", scope: "brewgate:member" },
        { alg: "HS256", key: secret, expiresIn: 2 },
      );
      const first = await hs.verify(token);
      assert.equal(first.memberId, "m-9");
      assert.deepEqual(await hs.verify(token), first);
      await new Promise((r) => setTimeout(r, 2_100));
      await refused(hs.verify(token), "UNAUTHENTICATED", /expired/);
    });

    it("keeps no refusal: a token refused once is checked again, and tampering with a cached one is seen", async () => {
      const token = await sign({ sub: "m-10", scope: "brewgate:member" }, { alg: "HS256", key: secret });
      await hs.verify(token);
      const [h, p, sig] = token.split(".");
      const other = b64url({ ...JSON.parse(Buffer.from(p, "base64url").toString()), sub: "m-11" });
      await refused(hs.verify(`${h}.${other}.${sig}`), "UNAUTHENTICATED", /signature/);
      await refused(hs.verify(`${h}.${other}.${sig}`), "UNAUTHENTICATED", /signature/);
    });
  });
});
