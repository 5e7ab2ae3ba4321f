import type { IHeaders, Message, Producer } from "kafkajs";
import type { Rejected } from "./decode";

/** Headers a dead-lettered message carries besides its original ones. */
export const DLQ_HEADERS = {
  reason: "x-dlq-reason",
  topic: "x-dlq-source-topic",
  partition: "x-dlq-source-partition",
  offset: "x-dlq-source-offset",
} as const;

export interface Source {
  topic: string;
  partition: number;
}

/** The dead-letter copy of a message: original key, value and timestamp, plus where and why. */
export function deadLetterMessage(source: Source, rejected: Rejected): Message {
  const { message, reason } = rejected;
  const headers: IHeaders = {
    ...message.headers,
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: message.offset,
  };
  return { key: message.key, value: message.value, timestamp: message.timestamp, headers };
}

/**
 * Writes rejected messages to the dead-letter topic and resolves only once every replica has
 * them (acks -1): the caller commits the source offsets after this, so a message is either
 * stored, dead-lettered, or delivered again.
 */
export async function sendToDeadLetter(
  producer: Pick<Producer, "send">,
  dlqTopic: string,
  source: Source,
  rejected: Rejected[],
): Promise<void> {
  if (rejected.length === 0) return;
  await producer.send({
    topic: dlqTopic,
    acks: -1,
    messages: rejected.map((r) => deadLetterMessage(source, r)),
  });
}
