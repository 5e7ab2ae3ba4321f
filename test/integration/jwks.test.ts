import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { bearer, gqlResponse } from "../support/graphql";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { connectSocket } from "../support/ws";

// A gateway verifying RS256 tokens against an identity provider's JWKS, through its doors: HTTP
// and WebSocket. (jose refetches the JWKS for an unknown kid at most every 30 s, so a provider
// publishes a new key before it signs with it, as providers do; the unit tests cover the rest.)

const ISSUER = "https://idp.test/";
const AUDIENCE = "brewgate";

describe("JWTs verified against a JWKS (RS256), over HTTP and WebSocket", () => {
  let pg: TestDatabase;
  let gw: Gateway;
  let idp: Server;
  let published: JWK[] = [];
  let fetches = 0;
  let ws: Awaited<ReturnType<typeof key>>;

  const key = async (kid: string) => {
    const pair = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
    const sign = (scope: string, sub: string) =>
      new SignJWT({ scope })
        .setProtectedHeader({ alg: "RS256", kid })
        .setSubject(sub)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(pair.privateKey);
    return { jwk, sign };
  };

  before(async () => {
    ws = await key("2026-ws");
    idp = createServer((_req, res) => {
      fetches++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((r) => idp.listen(0, "127.0.0.1", r));
    pg = await createTestDatabase();
    gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        NODE_ENV: "production",
        AUTH_JWKS_URL: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`,
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await pg?.drop();
    idp?.close();
  });

  it("accepts the provider's tokens, with any of its keys, and refuses a key it never published", async () => {
    const [first, second] = await Promise.all([key("2026-a"), key("2026-b")]);
    published = [first.jwk, second.jwk, ws.jwk];
    const admin = await first.sign("openid brewgate:admin", "ops@example.com");
    const ok = await gqlResponse(gw.url, "{ tasks { name } }", undefined, bearer(admin));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok((ok.body.data as { tasks: unknown[] }).tasks.length > 0);

    const service = await second.sign("brewgate:service", "billing");
    const other = await gqlResponse(
      gw.url,
      "{ members(first: 1) { totalCount } }",
      undefined,
      bearer(service),
    );
    assert.equal(other.status, 200, JSON.stringify(other.body));

    // Same kid, another private key: the signature does not verify.
    const stranger = await key("2026-a");
    const forged = await stranger.sign("brewgate:admin", "ops@example.com");
    const refused = await gqlResponse(gw.url, "{ tasks { name } }", undefined, bearer(forged));
    assert.equal(refused.status, 401);
    assert.equal(refused.body.errors?.[0].extensions?.code, "UNAUTHENTICATED");
    assert.match(refused.body.errors?.[0].message ?? "", /signature/);
    assert.equal(fetches, 1, "one fetch of the JWKS served every token");
  });

  it("opens a WebSocket with a provider token in connectionParams and closes one without with 4401", async () => {
    // A key of the JWKS fetched above.
    const token = await ws.sign("brewgate:member", "member-7");
    const open = await connectSocket(gw.url, { authorization: `Bearer ${token}` }, 10_000);
    assert.equal(open.outcome, "ack", JSON.stringify(open.outcome));
    await open.close();
    const none = await connectSocket(gw.url, {}, 10_000);
    assert.notEqual(none.outcome, "ack");
    assert.equal((none.outcome as { code: number }).code, 4401);
  });
});
