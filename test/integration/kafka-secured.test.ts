import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { createDb, type Db } from "../../src/db/client";
import { startGateway } from "../../src/gateway";
import type { KafkaConnection } from "../../src/kafka/connection";
import { testConfig } from "../support/config";
import { startGatewayProcess } from "../support/gateway-process";
import { gql } from "../support/graphql";
import {
  json,
  produce,
  readTopic,
  startBrokerAndDatabase,
  type TestBroker,
  testKafka,
} from "../support/kafka";
import { REPO_ROOT, testModel } from "../support/models";
import { makePki, type Pki } from "../support/pki";
import type { TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";
import { waitFor } from "../support/wait";

const run = promisify(execFile);

/**
 * The gateway against a broker whose secured listeners (dev/kafka-broker.ts) are SSL with client
 * certificates required, SASL_SSL and SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
 * Certificates and passwords are made here, for this run only. Every gateway is given only the
 * secured listener's address, so everything it does with Kafka goes through it.
 */
describe("Kafka with TLS and SASL (real broker, real PostgreSQL)", () => {
  let pki: Pki;
  let broker: TestBroker;
  let pg: TestDatabase;
  let db: Db;
  let sidecar: SidecarProcess;
  const user = { name: "brewgate", password: randomBytes(12).toString("hex") };
  let secured: NonNullable<TestBroker["secured"]>;

  /** The test's own client on the SASL_SSL listener, set up by hand rather than by the gateway's code. */
  const producerSide = (): KafkaConnection => ({
    brokers: secured.SASL_SSL,
    ssl: { ca: [readFileSync(pki.ca)] },
    sasl: { mechanism: "scram-sha-256", username: user.name, password: user.password },
  });

  /** What a user sets to reach the SASL_SSL listener with `mechanism`. */
  const saslSslEnv = (mechanism: string, prefix: string): Record<string, string> => ({
    DATABASE_URL: pg.url,
    KAFKA_BROKERS: secured.SASL_SSL.join(","),
    KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
    KAFKA_SSL_CA: pki.ca,
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: user.name,
    KAFKA_SASL_PASSWORD: user.password,
    ...topics(prefix),
  });

  /** Topics and group of their own per case, so cases do not read each other's events. */
  const topics = (prefix: string): Record<string, string> => ({
    KAFKA_GROUP_ID: `${prefix}-ingest`,
    KAFKA_TOPIC_MEMBERS: `${prefix}.members`,
    KAFKA_TOPIC_ITEMS: `${prefix}.items`,
    KAFKA_TOPIC_INTERACTIONS: `${prefix}.interactions`,
    KAFKA_TOPIC_DLQ: `${prefix}.dlq`,
    KAFKA_TOPIC_IMPRESSIONS: `${prefix}.impressions`,
    KAFKA_TOPIC_PARTITIONS: "2",
  });

  const interaction = (eventId: string, memberId: string, itemId: string) => ({
    eventId,
    memberId,
    itemId,
    action: "APPLY",
    occurredAt: "2026-11-01T10:00:00Z",
  });

  /** A member, an item and an interaction of theirs, produced over SASL_SSL to `prefix`'s topics. */
  const produceWorld = async (prefix: string, memberId: string, itemId: string, eventId: string) => {
    await produce(producerSide(), `${prefix}.members`, [
      json(memberId, { id: memberId, currentPosition: "welder" }),
    ]);
    await produce(producerSide(), `${prefix}.items`, [
      json(itemId, { id: itemId, type: "JOB", title: "Welder" }),
    ]);
    await produce(producerSide(), `${prefix}.interactions`, [
      json(memberId, interaction(eventId, memberId, itemId)),
    ]);
  };

  const stored = (eventId: string) => async () => (await db.interaction.count({ where: { eventId } })) === 1;

  before(async () => {
    pki = makePki();
    ({ broker, pg } = await startBrokerAndDatabase({
      tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca },
      users: [user],
    }));
    assert.ok(broker.secured, "the broker was started with secured listeners");
    secured = broker.secured;
    db = createDb(pg.url);
    sidecar = await startTestSidecar();
  });
  after(async () => {
    await sidecar?.stop();
    await db?.$disconnect();
    await broker?.cleanup();
    await pg?.drop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("SASL_SSL with SCRAM-SHA-512, set by environment: a gateway process ingests, dead-letters, publishes impressions, and npm run dlq reads the dead letters", async () => {
    const prefix = "scram512";
    const gateway = await startGatewayProcess({
      ...saslSslEnv("SCRAM-SHA-512", prefix),
      MODEL_DIR: testModel(),
      INFERENCE_ADDRESSES: sidecar.address,
      IDE_ENABLED: "false",
    });
    try {
      await produceWorld(prefix, "m-512", "j-512", "e-512");
      await produce(producerSide(), `${prefix}.interactions`, [{ key: "bad", value: "{not json" }]);
      await waitFor("the interaction stored over SASL_SSL", stored("e-512"));

      const letters = await readTopic(producerSide(), `${prefix}.dlq`, 1);
      assert.equal(letters[0].value?.toString(), "{not json");

      const r = await gql<{ recommendations: { impressionId: string; items: { itemId: string }[] } }>(
        gateway.url,
        `{ recommendations(memberId: "m-512", task: "job_apply", candidateIds: ["j-512"]) { impressionId items { itemId } } }`,
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      const [published] = await readTopic(producerSide(), `${prefix}.impressions`, 1);
      const impression = JSON.parse(published.value?.toString() ?? "{}");
      assert.equal(impression.id, r.data?.recommendations.impressionId);
      assert.equal(impression.memberId, "m-512");
    } finally {
      await gateway.stop();
    }

    // The dead-letter CLI reaches the secured cluster with the same variables.
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, "dist", "scripts", "dlq.js"), "list"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...saslSslEnv("SCRAM-SHA-512", prefix) },
      timeout: 60_000,
    });
    assert.match(stdout, /\tscram512\.interactions\tbad\t/, stdout);
  });

  for (const mechanism of ["PLAIN", "SCRAM-SHA-256"]) {
    it(`SASL_SSL with ${mechanism}: the consumer stores what is produced and the impression producer connects`, async () => {
      const prefix = mechanism.toLowerCase().replaceAll("-", "");
      const gw = await startGateway(testConfig(saslSslEnv(mechanism, prefix)));
      try {
        await gw.ingestion?.joined;
        await produceWorld(prefix, `m-${prefix}`, `j-${prefix}`, `e-${prefix}`);
        await waitFor(`the interaction stored with ${mechanism}`, stored(`e-${prefix}`));
      } finally {
        await gw.stop();
      }
    });
  }

  it("SASL_PLAINTEXT with SCRAM-SHA-256: stores what is produced", async () => {
    const prefix = "saslplain";
    const gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        KAFKA_BROKERS: secured.SASL_PLAINTEXT.join(","),
        KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM: "scram-sha-256",
        KAFKA_SASL_USERNAME: user.name,
        KAFKA_SASL_PASSWORD: user.password,
        ...topics(prefix),
      }),
    );
    try {
      await gw.ingestion?.joined;
      await produceWorld(prefix, "m-sp", "j-sp", "e-sp");
      await waitFor("the interaction stored over SASL_PLAINTEXT", stored("e-sp"));
    } finally {
      await gw.stop();
    }
  });

  it("SSL with a client certificate (mutual TLS): stores what is produced", async () => {
    const prefix = "mtls";
    const gw = await startGateway(
      testConfig({
        DATABASE_URL: pg.url,
        KAFKA_BROKERS: secured.SSL.join(","),
        KAFKA_SECURITY_PROTOCOL: "SSL",
        KAFKA_SSL_CA: pki.ca,
        KAFKA_SSL_CERT: pki.clientCert,
        KAFKA_SSL_KEY: pki.clientKey,
        ...topics(prefix),
      }),
    );
    try {
      await gw.ingestion?.joined;
      await produceWorld(prefix, "m-tls", "j-tls", "e-tls");
      await waitFor("the interaction stored over SSL", stored("e-tls"));
    } finally {
      await gw.stop();
    }
  });

  describe("refusals stop the gateway at start with the reason, and never print the password", () => {
    const refused = async (env: Record<string, string>): Promise<string> => {
      const err = await startGatewayProcess({ IDE_ENABLED: "false", ...env }).then(
        async (g) => {
          await g.stop();
          return null;
        },
        (e: Error) => e,
      );
      assert.ok(err, "the gateway started although it should have been refused");
      assert.match(err.message, /gateway exited with 1/);
      return err.message;
    };

    it("a wrong SCRAM password", async () => {
      const message = await refused({
        ...saslSslEnv("SCRAM-SHA-512", "refused-password"),
        KAFKA_SASL_PASSWORD: "not-the-password",
      });
      assert.match(
        message,
        /cannot create the ingestion topics on Kafka 127\.0\.0\.1:\d+ over SASL_SSL as 'brewgate' \(scram-sha-512\)/,
      );
      assert.match(message, /authentication failed/i);
      assert.doesNotMatch(message, /not-the-password/);
    });

    it("a broker certificate from a CA the gateway does not trust", async () => {
      const message = await refused({ ...saslSslEnv("PLAIN", "refused-ca"), KAFKA_SSL_CA: pki.otherCa });
      assert.match(message, /cannot create the ingestion topics on Kafka .* over SASL_SSL/);
      assert.match(message, /unable to verify the first certificate \(.*set KAFKA_SSL_CA\)/);
      assert.doesNotMatch(message, new RegExp(user.password));
    });

    it("no client certificate where the broker requires one", async () => {
      const message = await refused({
        DATABASE_URL: pg.url,
        KAFKA_BROKERS: secured.SSL.join(","),
        KAFKA_SECURITY_PROTOCOL: "SSL",
        KAFKA_SSL_CA: pki.ca,
        ...topics("refused-mtls"),
      });
      assert.match(
        message,
        /cannot create the ingestion topics on Kafka .* over SSL: .*bad certificate.*KAFKA_SSL_CERT/s,
      );
    });

    it("plaintext to a TLS listener", async () => {
      const message = await refused({
        DATABASE_URL: pg.url,
        KAFKA_BROKERS: secured.SASL_SSL.join(","),
        ...topics("refused-plaintext"),
      });
      assert.match(
        message,
        /cannot create the ingestion topics on Kafka .* over PLAINTEXT: Closed connection \(.*set KAFKA_SECURITY_PROTOCOL\)/,
      );
    });

    it("a key file that does not exist, named with its variable", async () => {
      const missing = join(pki.dir, "missing.key");
      const message = await refused({
        ...saslSslEnv("PLAIN", "refused-file"),
        KAFKA_SSL_CERT: pki.clientCert,
        KAFKA_SSL_KEY: missing,
      });
      assert.match(message, new RegExp(`KAFKA_SSL_KEY: cannot read ${missing}`));
    });
  });

  it("a test client without credentials is refused by the SASL_SSL listener (the listener really checks)", async () => {
    const admin = testKafka({ brokers: secured.SASL_SSL, ssl: { ca: [readFileSync(pki.ca)] } }).admin();
    await assert.rejects(
      (async () => {
        await admin.connect();
        await admin.listTopics();
      })(),
    );
    await admin.disconnect().catch(() => {});
  });
});
