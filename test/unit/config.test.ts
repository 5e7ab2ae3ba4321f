import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config";

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
