import type { IHeaders, Kafka, KafkaMessage, Message } from "kafkajs";
import type { Db } from "../db/client";
import { recordReplays, replayedBefore } from "../db/dead-letter-replays";
import { DLQ_HEADERS } from "./dead-letter";

/** Reading the dead-letter topic ends after this long without a message. */
const DLQ_READ_IDLE_MS = 10_000;

/** Header a replayed message carries: where in the dead-letter topic it came from. */
export const REPLAYED_FROM_HEADER = "x-dlq-replayed-from";

export interface DeadLetter {
  partition: number;
  offset: string;
  /** The original message's timestamp (a dead letter keeps it). */
  at: Date;
  reason: string;
  sourceTopic: string;
  key: string | null;
  message: KafkaMessage;
}

export interface DeadLetterFilter {
  /** Only letters whose reason contains this text. */
  reason?: string;
  /** Only letters whose original message was produced at or after this time. */
  since?: Date;
}

const text = (h: IHeaders[string]) => (h === undefined ? "" : String(Array.isArray(h) ? h[0] : h));

/**
 * Every message of the dead-letter topic as it is now (up to each partition's end when the read
 * began), matching the filter. Read with a throwaway consumer group, deleted afterwards: the
 * topic itself is never consumed away, so `list` and `replay` always see all of it.
 */
export async function readDeadLetters(
  kafka: Kafka,
  topic: string,
  filter: DeadLetterFilter,
): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `brewgate-dlq-reader-${process.pid}-${Date.now()}`;
  try {
    const ends = new Map(
      (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)] as const),
    );
    const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
    const letters: DeadLetter[] = [];
    if (pending.size > 0) {
      const consumer = kafka.consumer({ groupId });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await new Promise<void>((resolve, reject) => {
          // A partition whose last offsets hold no message (control records) never reports its
          // end: once nothing has arrived for a while, what was read is all there is.
          let last = Date.now();
          const done = () => {
            clearInterval(idle);
            resolve();
          };
          const idle = setInterval(() => {
            if (Date.now() - last > DLQ_READ_IDLE_MS) done();
          }, 500);
          consumer.on(consumer.events.GROUP_JOIN, () => {
            last = Date.now();
          });
          consumer
            .run({
              eachMessage: async ({ partition, message }) => {
                last = Date.now();
                const end = ends.get(partition) ?? 0n;
                if (BigInt(message.offset) < end) {
                  const letter: DeadLetter = {
                    partition,
                    offset: message.offset,
                    at: new Date(Number(message.timestamp)),
                    reason: text(message.headers?.[DLQ_HEADERS.reason]),
                    sourceTopic: text(message.headers?.[DLQ_HEADERS.topic]),
                    key: message.key?.toString("utf8") ?? null,
                    message,
                  };
                  if (matches(letter, filter)) letters.push(letter);
                }
                if (BigInt(message.offset) + 1n >= end) {
                  pending.delete(partition);
                  if (pending.size === 0) done();
                }
              },
            })
            .catch((err) => {
              clearInterval(idle);
              reject(err);
            });
        });
      } finally {
        await consumer.disconnect();
      }
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return letters.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  } finally {
    await admin.disconnect();
  }
}

function matches(l: DeadLetter, f: DeadLetterFilter): boolean {
  if (f.reason && !l.reason.includes(f.reason)) return false;
  if (f.since && l.at < f.since) return false;
  return true;
}

/**
 * Re-publishes dead letters to their source topics with their original key, value and headers
 * (the `x-dlq-*` ones dropped, `x-dlq-replayed-from` added), acks from every replica, then records
 * each as replayed: a second replay skips it. Letters without a source topic are left. The
 * consumers are idempotent (interactions on eventId, members and items on id), so a replay cut
 * short between the send and the record, and run again, stores nothing twice.
 */
export async function replayDeadLetters(
  kafka: Kafka,
  db: Db,
  dlqTopic: string,
  letters: DeadLetter[],
): Promise<{ replayed: number; skipped: number }> {
  const refs = letters.map((l) => ({ dlqTopic, dlqPartition: l.partition, dlqOffset: l.offset }));
  const before = await replayedBefore(db, dlqTopic, refs);
  const todo = letters.filter((l) => l.sourceTopic && !before.has(`${l.partition}:${l.offset}`));
  if (todo.length === 0) return { replayed: 0, skipped: letters.length };
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    const byTopic = new Map<string, DeadLetter[]>();
    for (const l of todo) byTopic.set(l.sourceTopic, [...(byTopic.get(l.sourceTopic) ?? []), l]);
    for (const [topic, group] of byTopic) {
      await producer.send({ topic, acks: -1, messages: group.map(original) });
      await recordReplays(
        db,
        group.map((l) => ({ dlqTopic, dlqPartition: l.partition, dlqOffset: l.offset, targetTopic: topic })),
      );
    }
  } finally {
    await producer.disconnect();
  }
  return { replayed: todo.length, skipped: letters.length - todo.length };
}

function original(l: DeadLetter): Message {
  const headers: IHeaders = {};
  const dlq = new Set<string>(Object.values(DLQ_HEADERS));
  for (const [name, value] of Object.entries(l.message.headers ?? {})) {
    if (!dlq.has(name) && value !== undefined) headers[name] = value;
  }
  headers[REPLAYED_FROM_HEADER] = `${l.partition}:${l.offset}`;
  return { key: l.message.key, value: l.message.value, timestamp: l.message.timestamp, headers };
}
