import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config";
import { describeConnection, kafkaConnection } from "../../src/kafka/connection";

const brokers = { KAFKA_BROKERS: "kafka-1.example:9093,kafka-2.example:9093" };
const login = { KAFKA_SASL_USERNAME: "svc", KAFKA_SASL_PASSWORD: "pw-123" };

describe("Kafka connection settings", () => {
  it("PLAINTEXT by default: no TLS, no login", () => {
    const c = kafkaConnection(loadConfig(brokers));
    assert.deepEqual(c, { brokers: ["kafka-1.example:9093", "kafka-2.example:9093"] });
    assert.equal(describeConnection(c), "kafka-1.example:9093,kafka-2.example:9093 over PLAINTEXT");
  });

  it("SASL_SSL without KAFKA_SSL_CA trusts the public CAs, as a managed service needs", () => {
    for (const [given, kafkajs] of [
      ["PLAIN", "plain"],
      ["scram-sha-256", "scram-sha-256"],
      ["SCRAM-SHA-512", "scram-sha-512"],
    ]) {
      const c = kafkaConnection(
        loadConfig({
          ...brokers,
          ...login,
          KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
          KAFKA_SASL_MECHANISM: given,
        }),
      );
      assert.deepEqual(c.ssl, {});
      assert.deepEqual(c.sasl, { mechanism: kafkajs, username: "svc", password: "pw-123" });
      assert.equal(
        describeConnection(c),
        `kafka-1.example:9093,kafka-2.example:9093 over SASL_SSL as 'svc' (${kafkajs})`,
      );
      assert.doesNotMatch(describeConnection(c), /pw-123/);
    }
  });

  it("SASL_PLAINTEXT logs in without TLS", () => {
    const c = kafkaConnection(
      loadConfig({
        ...brokers,
        ...login,
        KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM: "PLAIN",
      }),
    );
    assert.equal(c.ssl, undefined);
    assert.equal(c.sasl?.mechanism, "plain");
  });

  it("refuses a SASL protocol without its mechanism, user or password, naming what is missing", () => {
    assert.throws(
      () => loadConfig({ ...brokers, KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_USERNAME: "svc" }),
      /KAFKA_SECURITY_PROTOCOL=SASL_SSL logs in with SASL and needs KAFKA_SASL_MECHANISM, KAFKA_SASL_PASSWORD/,
    );
  });

  it("refuses settings the protocol would ignore, rather than connecting without them", () => {
    assert.throws(
      () => loadConfig({ ...brokers, ...login, KAFKA_SASL_MECHANISM: "PLAIN" }),
      /KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT/,
    );
    assert.throws(
      () => loadConfig({ ...brokers, KAFKA_SSL_CA: "/etc/kafka/ca.pem" }),
      /KAFKA_SSL_CA set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT, which does not use TLS/,
    );
    assert.throws(
      () =>
        loadConfig({
          ...brokers,
          ...login,
          KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
          KAFKA_SASL_MECHANISM: "PLAIN",
          KAFKA_SSL_CA: "/etc/kafka/ca.pem",
        }),
      /KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT, which does not use TLS/,
    );
  });

  it("refuses an unknown mechanism or protocol", () => {
    assert.throws(
      () =>
        loadConfig({
          ...brokers,
          ...login,
          KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
          KAFKA_SASL_MECHANISM: "GSSAPI",
        }),
      /KAFKA_SASL_MECHANISM/,
    );
    assert.throws(
      () => loadConfig({ ...brokers, KAFKA_SECURITY_PROTOCOL: "TLS" }),
      /KAFKA_SECURITY_PROTOCOL/,
    );
  });

  it("a client certificate needs its key", () => {
    assert.throws(
      () =>
        loadConfig({ ...brokers, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CERT: "/etc/kafka/client.pem" }),
      /KAFKA_SSL_CERT and KAFKA_SSL_KEY .* go together/,
    );
  });

  it("names the variable and the file it cannot read", () => {
    assert.throws(
      () =>
        kafkaConnection(
          loadConfig({ ...brokers, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CA: "/nonexistent/ca.pem" }),
        ),
      /KAFKA_SSL_CA: cannot read \/nonexistent\/ca\.pem/,
    );
  });
});
