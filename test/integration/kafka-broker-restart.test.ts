import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Config } from "../../src/config";
import { upsertItems } from "../../src/db/items";
import { upsertMembers } from "../../src/db/members";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "../support/config";
import { committedToEnd, startBrokerAndDatabase, type TestBroker, testKafka } from "../support/kafka";
import type { TestDatabase } from "../support/postgres";
import { waitFor } from "../support/wait";

describe("Kafka ingestion across a broker restart (real broker, real PostgreSQL)", () => {
  let broker: TestBroker;
  let pg: TestDatabase;
  let config: Config;
  let gw: Gateway;

  before(async () => {
    ({ broker, pg } = await startBrokerAndDatabase());
    config = testConfig({ DATABASE_URL: pg.url, KAFKA_BROKERS: broker.brokers.join(",") });
    gw = await startGateway(config);
    await gw.ingestion?.joined;
    await upsertMembers(gw.db, [{ id: "m1" }, { id: "m2" }]);
    await upsertItems(gw.db, [{ id: "j1", type: "JOB", title: "Backend engineer" }]);
  });
  after(async () => {
    await gw?.stop();
    await broker?.cleanup();
    await pg?.drop();
  });

  it("loses no event and stores none twice when the broker restarts mid-stream", async () => {
    const total = 2000;
    const perSend = 50;
    const producer = testKafka(broker.brokers).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const pidBefore = broker.pid;
    let restarted: Promise<void> | null = null;
    let restarting = false;
    let sendsDuringRestart = 0;
    try {
      for (let first = 0; first < total; first += perSend) {
        const messages = Array.from({ length: perSend }, (_, i) => {
          const n = first + i;
          const event = {
            eventId: `s-${n}`,
            memberId: n % 2 ? "m1" : "m2",
            itemId: "j1",
            action: "VIEW",
            occurredAt: new Date(Date.UTC(2026, 10, 1, 0, 0, n)).toISOString(),
          };
          return { key: event.memberId, value: JSON.stringify(event) };
        });
        // Halfway, the broker goes down and comes back while events keep coming.
        if (first === total / 2) {
          restarting = true;
          restarted = broker.restart().finally(() => {
            restarting = false;
          });
        }
        // A send whose acknowledgement was lost is sent again, as any producer would; the
        // event ids make the copies harmless.
        for (;;) {
          if (restarting) sendsDuringRestart++;
          try {
            await producer.send({ topic: config.KAFKA_TOPIC_INTERACTIONS, acks: -1, messages });
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      }
      await restarted;
    } finally {
      await producer.disconnect();
    }
    assert.notEqual(broker.pid, pidBefore, "the broker is a new process");
    assert.ok(sendsDuringRestart > 0, "events were sent while the broker restarted");

    await waitFor("every event stored", async () => (await gw.db.interaction.count()) >= total, 120_000);
    await waitFor(
      "offsets committed to the end",
      () => committedToEnd(broker.brokers, config.KAFKA_GROUP_ID, config.KAFKA_TOPIC_INTERACTIONS),
      60_000,
    );
    const [{ rows, ids }] = await gw.db.$queryRaw<{ rows: bigint; ids: bigint }[]>`
      SELECT count(*) AS rows, count(DISTINCT "eventId") AS ids FROM "Interaction"`;
    assert.equal(Number(rows), total, "one row per event");
    assert.equal(Number(ids), total, "every event id present");
    const missing = await gw.db.$queryRaw<{ n: number }[]>`
      SELECT n FROM generate_series(0, ${total - 1}::int) AS n
      WHERE NOT EXISTS (SELECT 1 FROM "Interaction" WHERE "eventId" = 's-' || n)`;
    assert.deepEqual(missing, []);
  });
});
