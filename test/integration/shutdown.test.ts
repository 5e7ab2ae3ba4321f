import assert from "node:assert/strict";
import { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { startGatewayProcess } from "../support/gateway-process";
import { startBrokerAndDatabase, type TestBroker } from "../support/kafka";
import type { TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

// Short deadlines so that a stop that hangs shows within the test's time.
const SHUTDOWN = { SHUTDOWN_TIMEOUT_MS: "8000", IMPRESSION_FLUSH_TIMEOUT_MS: "2000" };

/** Whether /readyz says the Kafka consumer crashed (the broker went away under it). */
async function consumerCrashed(graphqlUrl: string): Promise<boolean> {
  const res = await fetch(graphqlUrl.replace(/\/graphql$/, "/readyz")).catch(() => null);
  const body = (await res?.json().catch(() => null)) as { checks?: { kafka?: string } } | null;
  return /crashed/.test(body?.checks?.kafka ?? "");
}

/** Open sockets of this process to `port`: what kafkajs still holds to the broker. */
function socketsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => h instanceof Socket && !h.destroyed && h.remotePort === port).length;
}

describe("a gateway asked to stop during or after a Kafka broker outage stops", () => {
  let broker: TestBroker;
  let pg: TestDatabase;
  let port: number;
  before(async () => {
    ({ broker, pg } = await startBrokerAndDatabase());
    port = Number(broker.brokers[0].split(":")[1]);
  });
  after(async () => {
    await broker?.cleanup();
    await pg?.drop();
  });

  it("in process: stopped while its consumer rejoins after the outage, it leaves no Kafka client behind", async () => {
    const gw: Gateway = await startGateway(
      testConfig({ DATABASE_URL: pg.url, KAFKA_BROKERS: broker.brokers.join(","), ...SHUTDOWN }),
    );
    try {
      await gw.ingestion?.joined;
      await broker.stop();
      await waitFor("the consumer to crash", () => consumerCrashed(gw.url), 90_000);
      await broker.restart();
      // The consumer restarts within its backoff and asks to join again; the broker holds that
      // join until the member from before the outage times out, the window in which kafkajs's
      // consumer used to come back after disconnect().
      await new Promise((r) => setTimeout(r, 8_000));
    } finally {
      const report = await gw.stop();
      assert.deepEqual(report.abandoned, [], JSON.stringify(report));
    }
    // A consumer that came back would hold a connection to the broker (its join, then its fetches).
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      assert.equal(socketsTo(port), 0, "a Kafka connection outlived the gateway's stop");
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  it("as a process: SIGTERM during the outage exits within SHUTDOWN_TIMEOUT_MS", async () => {
    const gateway = await startGatewayProcess({
      DATABASE_URL: pg.url,
      KAFKA_BROKERS: broker.brokers.join(","),
      // A group of its own: the first test's member may still be in the other one.
      KAFKA_GROUP_ID: "brewgate-shutdown-process",
      IDE_ENABLED: "false",
      ...SHUTDOWN,
    });
    await waitFor("the consumer to join", async () => {
      const res = await fetch(gateway.url.replace(/\/graphql$/, "/readyz"));
      return res.status === 200;
    });
    await broker.stop();
    await waitFor("the consumer to crash", () => consumerCrashed(gateway.url), 90_000);
    const exited = new Promise<number | null>((resolve) =>
      gateway.child.once("exit", (code) => resolve(code)),
    );
    const signalled = Date.now();
    gateway.child.kill("SIGTERM");
    // The deadline, the exit margin after it, and room for a loaded machine.
    const limitMs = 8_000 + 2_000 + 5_000;
    const code = await Promise.race([
      exited,
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), limitMs).unref()),
    ]);
    if (code === "hung") gateway.child.kill("SIGKILL");
    assert.notEqual(code, "hung", `the gateway did not exit ${limitMs} ms after SIGTERM`);
    assert.ok(Date.now() - signalled < limitMs);
    assert.equal(code, 0, "the gateway abandoned a part at shutdown (its log says which)");
  });
});
