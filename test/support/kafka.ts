import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type IHeaders, Kafka, type KafkaMessage, logLevel, type Message } from "kafkajs";
import { type Broker, type BrokerSecurity, startBroker } from "../../dev/kafka-broker";
import type { KafkaConnection } from "../../src/kafka/connection";
import { createTestDatabase, type TestDatabase } from "./postgres";

export type TestBroker = Broker & { cleanup(): Promise<void> };

/**
 * A real single-node broker on free ports with its data in a temporary directory; with
 * `security`, secured listeners beside the PLAINTEXT one (dev/kafka-broker.ts).
 */
export async function startTestBroker(security?: BrokerSecurity): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), "brewgate-kafka-"));
  const broker = await startBroker({ dataDir, heapMb: 384, security }).catch((err) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  return Object.assign(broker, {
    async cleanup() {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** A bootstrap list (PLAINTEXT), or brokers with the TLS and SASL settings to reach them. */
export type KafkaTarget = string[] | KafkaConnection;

export function testKafka(target: KafkaTarget): Kafka {
  return new Kafka({
    ...(Array.isArray(target) ? { brokers: target } : target),
    clientId: "brewgate-test",
    logLevel: logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 },
  });
}

/** Sends messages and resolves once every replica has them. */
export async function produce(brokers: KafkaTarget, topic: string, messages: Message[]): Promise<void> {
  const producer = testKafka(brokers).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

export const json = (key: string, value: unknown): Message => ({ key, value: JSON.stringify(value) });

/** Reads a topic from the beginning until `count` messages arrived (or fails after `timeoutMs`). */
export async function readTopic(
  brokers: KafkaTarget,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<(KafkaMessage & { partition: number })[]> {
  const consumer = testKafka(brokers).consumer({ groupId: `reader-${Date.now()}-${Math.random()}` });
  const got: (KafkaMessage & { partition: number })[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${got.length} of ${count} messages from ${topic} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message, partition }) => {
            got.push({ ...message, partition });
            if (got.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

export function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
}

/** Committed offsets of a group by partition ("-1": nothing committed). */
export async function committedOffsets(brokers: KafkaTarget, groupId: string, topic: string) {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(t.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

/** High watermarks of a topic by partition. */
export async function endOffsets(brokers: KafkaTarget, topic: string) {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return Object.fromEntries(offsets.map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
}

/** Whether the group has committed every partition of the topic up to its end. */
export async function committedToEnd(brokers: KafkaTarget, groupId: string, topic: string): Promise<boolean> {
  const [done, end] = await Promise.all([
    committedOffsets(brokers, groupId, topic),
    endOffsets(brokers, topic),
  ]);
  return Object.entries(end).every(([p, high]) => high === "0" || done[Number(p)] === high);
}

/**
 * A broker and a fresh database, started side by side; when one fails to start, the other is
 * removed again before the error is thrown, so a failed setup leaves nothing behind.
 */
export async function startBrokerAndDatabase(
  security?: BrokerSecurity,
): Promise<{ broker: TestBroker; pg: TestDatabase }> {
  const [b, p] = await Promise.allSettled([startTestBroker(security), createTestDatabase()]);
  if (b.status === "fulfilled" && p.status === "fulfilled") return { broker: b.value, pg: p.value };
  if (b.status === "fulfilled") await b.value.cleanup();
  if (p.status === "fulfilled") await p.value.drop();
  throw b.status === "rejected" ? b.reason : (p as PromiseRejectedResult).reason;
}
