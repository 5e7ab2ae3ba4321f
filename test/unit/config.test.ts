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

  it("names every bad variable", () => {
    assert.throws(
      () => loadConfig({ PORT: "http", LOG_LEVEL: "loud" }),
      /PORT: .*LOG_LEVEL: |LOG_LEVEL: .*PORT: /,
    );
    assert.throws(() => loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: "0" }), /DATABASE_CONNECT_TIMEOUT_MS/);
    assert.throws(() => loadConfig({ IMPRESSION_MAX_PENDING: "0" }), /IMPRESSION_MAX_PENDING/);
  });
});
