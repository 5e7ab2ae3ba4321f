import { parentPort, workerData } from "node:worker_threads";
import { CompressionTypes, Kafka, logLevel, type Message, Partitioners } from "kafkajs";
import { type PlanOptions, plan } from "./plan";

/**
 * Produces the benchmark's events on a thread of its own, so that building and sending them does
 * not hold up the ingestion being measured. Each event's produce time goes into `producedAt`
 * (shared memory); "done" is posted when every send is acknowledged by all replicas.
 */

export interface ProducerWork extends PlanOptions {
  brokers: string[];
  topic: string;
  producedAt: SharedArrayBuffer;
}

const SEND_CHUNK = 5000;
const SENDS_IN_FLIGHT = 4;

async function produceAll(work: ProducerWork) {
  const p = plan(work);
  const producedAt = new Float64Array(work.producedAt);
  const kafka = new Kafka({
    brokers: work.brokers,
    clientId: `${work.run}-producer`,
    logLevel: logLevel.WARN,
  });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    let next = 0;
    const sender = async () => {
      while (next < work.events) {
        const from = next;
        next = Math.min(work.events, next + SEND_CHUNK);
        const now = Date.now();
        const messages: Message[] = [];
        for (let i = from; i < next; i++) {
          producedAt[i] = now;
          messages.push(p.message(i, String(now)));
        }
        await producer.send({ topic: work.topic, acks: -1, compression: CompressionTypes.None, messages });
      }
    };
    await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, sender));
  } finally {
    await producer.disconnect();
  }
}

produceAll(workerData as ProducerWork).then(
  () => parentPort?.postMessage({ done: true }),
  (err) =>
    parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
);
