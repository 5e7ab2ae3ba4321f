import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CONFIG_VARIABLES, loadConfig } from "../../src/config";
import { REPO_ROOT } from "../support/models";

describe("config", () => {
  it("applies documented defaults", () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 4000);
    assert.equal(c.HOST, "127.0.0.1");
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.KAFKA_BROKERS, undefined);
    assert.equal(c.KAFKA_TOPIC_DLQ, "brewgate.dlq");
    assert.equal(c.DATABASE_POOL_MAX, undefined);
    assert.equal(c.DATABASE_POOL_IDLE_TIMEOUT_MS, 300_000);
    assert.equal(c.DATABASE_CONNECT_TIMEOUT_MS, 5_000);
    assert.equal(c.IMPRESSION_MAX_PENDING, 10_000);
    assert.equal(c.IMPRESSION_FLUSH_TIMEOUT_MS, 10_000);
    assert.equal(c.SHUTDOWN_TIMEOUT_MS, 25_000);
  });

  it("lists every variable in .env.example", () => {
    const example = readFileSync(join(REPO_ROOT, ".env.example"), "utf8");
    const listed = new Set([...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    assert.deepEqual(
      CONFIG_VARIABLES.filter((v) => !listed.has(v)),
      [],
    );
  });

  it("refuses an impression flush that the shutdown deadline would cut short", () => {
    assert.throws(
      () => loadConfig({ SHUTDOWN_TIMEOUT_MS: "5000", IMPRESSION_FLUSH_TIMEOUT_MS: "10000" }),
      /IMPRESSION_FLUSH_TIMEOUT_MS \(10000\) must be below SHUTDOWN_TIMEOUT_MS \(5000\)/,
    );
  });

  it("splits broker lists", () => {
    assert.deepEqual(loadConfig({ KAFKA_BROKERS: "127.0.0.1:9092, 127.0.0.1:9093," }).KAFKA_BROKERS, [
      "127.0.0.1:9092",
      "127.0.0.1:9093",
    ]);
  });

  it("turns authentication on and the IDE and introspection off under NODE_ENV=production", () => {
    const c = loadConfig({ NODE_ENV: "production" });
    assert.equal(c.NODE_ENV, "production");
    assert.equal(c.AUTH_REQUIRED, true);
    assert.equal(c.IDE_ENABLED, false);
    assert.equal(c.INTROSPECTION_ENABLED, false);
  });

  it("keeps explicit AUTH_REQUIRED, IDE_ENABLED and INTROSPECTION_ENABLED over the production defaults", () => {
    const open = loadConfig({
      NODE_ENV: "production",
      AUTH_REQUIRED: "false",
      IDE_ENABLED: "true",
      INTROSPECTION_ENABLED: "true",
    });
    assert.deepEqual([open.AUTH_REQUIRED, open.IDE_ENABLED, open.INTROSPECTION_ENABLED], [false, true, true]);
    // Each one alone, the others keeping their production default.
    const ide = loadConfig({ NODE_ENV: "production", IDE_ENABLED: "true" });
    assert.deepEqual([ide.AUTH_REQUIRED, ide.IDE_ENABLED, ide.INTROSPECTION_ENABLED], [true, true, false]);
  });

  it("leaves authentication optional and the IDE and introspection on in development", () => {
    for (const env of [{}, { NODE_ENV: "development" }, { NODE_ENV: "test" }]) {
      const c = loadConfig(env);
      assert.deepEqual(
        [c.AUTH_REQUIRED, c.IDE_ENABLED, c.INTROSPECTION_ENABLED],
        [false, true, true],
        JSON.stringify(env),
      );
    }
    assert.equal(loadConfig({}).NODE_ENV, "development");
    const locked = loadConfig({
      AUTH_REQUIRED: "true",
      IDE_ENABLED: "false",
      INTROSPECTION_ENABLED: "false",
    });
    assert.deepEqual(
      [locked.AUTH_REQUIRED, locked.IDE_ENABLED, locked.INTROSPECTION_ENABLED],
      [true, false, false],
    );
    assert.throws(() => loadConfig({ AUTH_REQUIRED: "yes" }), /AUTH_REQUIRED/);
  });

  it("refuses an AUTH_JWT_SECRET shorter than 32 characters", () => {
    const jwt = { AUTH_JWT_ISSUER: "brewgate-local", AUTH_JWT_AUDIENCE: "brewgate" };
    assert.throws(
      () => loadConfig({ ...jwt, AUTH_JWT_SECRET: "x".repeat(31) }),
      /AUTH_JWT_SECRET: must be at least 32 characters/,
    );
    assert.equal(loadConfig({ ...jwt, AUTH_JWT_SECRET: "x".repeat(32) }).AUTH_JWT_SECRET, "x".repeat(32));
  });

  it("refuses AUTH_JWKS_URL together with AUTH_JWT_PUBLIC_KEY", () => {
    const jwt = { AUTH_JWT_ISSUER: "https://idp.example/", AUTH_JWT_AUDIENCE: "brewgate" };
    assert.throws(
      () =>
        loadConfig({
          ...jwt,
          AUTH_JWKS_URL: "https://idp.example/.well-known/jwks.json",
          AUTH_JWT_PUBLIC_KEY: "/etc/brewgate/jwt.pem",
        }),
      /set AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY, not both/,
    );
    // Either alone is accepted, and so is a secret beside either.
    assert.ok(loadConfig({ ...jwt, AUTH_JWKS_URL: "https://idp.example/.well-known/jwks.json" }));
    assert.ok(
      loadConfig({ ...jwt, AUTH_JWT_PUBLIC_KEY: "/etc/brewgate/jwt.pem", AUTH_JWT_SECRET: "s".repeat(32) }),
    );
  });

  it("requires AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE when JWTs are verified", () => {
    assert.throws(
      () => loadConfig({ AUTH_JWT_SECRET: "s".repeat(32), AUTH_JWT_AUDIENCE: "brewgate" }),
      /AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE must be set when JWTs are verified/,
    );
  });

  it("names every bad variable", () => {
    assert.throws(
      () => loadConfig({ PORT: "http", LOG_LEVEL: "loud" }),
      /PORT: .*LOG_LEVEL: |LOG_LEVEL: .*PORT: /,
    );
    assert.throws(() => loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: "0" }), /DATABASE_CONNECT_TIMEOUT_MS/);
    assert.throws(() => loadConfig({ IMPRESSION_MAX_PENDING: "0" }), /IMPRESSION_MAX_PENDING/);
  });
});
