import type { KafkaMessage } from "kafkajs";
import type { z } from "zod";
import { describeIssues } from "../domain/events";

export interface Decoded<T> {
  event: T;
  message: KafkaMessage;
}

/** A message that cannot be stored, with a reason a person can act on. */
export interface Rejected {
  message: KafkaMessage;
  reason: string;
}

/**
 * Parses each message's value as JSON and validates it with the topic's schema. Never throws:
 * a bad message is reported, the others go on.
 */
export function decodeMessages<S extends z.ZodType>(
  messages: KafkaMessage[],
  schema: S,
): { valid: Decoded<z.infer<S>>[]; rejected: Rejected[] } {
  const valid: Decoded<z.infer<S>>[] = [];
  const rejected: Rejected[] = [];
  for (const message of messages) {
    if (message.value === null || message.value.length === 0) {
      rejected.push({ message, reason: "empty message value (expected a JSON event)" });
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(message.value.toString("utf8"));
    } catch (err) {
      rejected.push({ message, reason: `invalid JSON: ${(err as Error).message}` });
      continue;
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) valid.push({ event: parsed.data, message });
    else rejected.push({ message, reason: `invalid event: ${describeIssues(parsed.error)}` });
  }
  return { valid, rejected };
}
