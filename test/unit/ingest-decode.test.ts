import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KafkaMessage } from "kafkajs";
import { interactionEvent } from "../../src/domain/events";
import { DLQ_HEADERS, deadLetterMessage } from "../../src/ingest/dead-letter";
import { decodeMessages } from "../../src/ingest/decode";

const message = (offset: string, value: string | null, key = "k"): KafkaMessage => ({
  key: Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  offset,
  timestamp: "1796000000000",
  attributes: 0,
  headers: { trace: "abc" },
});

const good = {
  eventId: "e1",
  memberId: "m1",
  itemId: "j1",
  action: "APPLY",
  occurredAt: "2026-11-01T10:00:00Z",
};

describe("decoding Kafka messages", () => {
  it("keeps valid events with their message and names what is wrong with the others", () => {
    const { valid, rejected } = decodeMessages(
      [
        message("0", JSON.stringify(good)),
        message("1", "{not json"),
        message("2", JSON.stringify({ ...good, action: "apply", memberId: "" })),
        message("3", null),
        message("4", JSON.stringify({ ...good, eventId: "e2" })),
      ],
      interactionEvent,
    );
    assert.deepEqual(
      valid.map((v) => [v.message.offset, v.event.eventId, v.event.occurredAt.toISOString()]),
      [
        ["0", "e1", "2026-11-01T10:00:00.000Z"],
        ["4", "e2", "2026-11-01T10:00:00.000Z"],
      ],
    );
    assert.deepEqual(
      rejected.map((r) => r.message.offset),
      ["1", "2", "3"],
    );
    assert.match(rejected[0].reason, /^invalid JSON: /);
    assert.equal(
      rejected[1].reason,
      "invalid event: memberId: must not be empty; action: must be an upper-case action code such as APPLY or VIEW",
    );
    assert.equal(rejected[2].reason, "empty message value (expected a JSON event)");
  });

  it("builds a dead letter with the original key, value and headers plus reason and source", () => {
    const original = message("41", "{oops", "member-7");
    const letter = deadLetterMessage(
      { topic: "brewgate.members", partition: 2 },
      { message: original, reason: "bad" },
    );
    assert.equal(letter.key, original.key);
    assert.equal(letter.value, original.value);
    assert.equal(letter.timestamp, original.timestamp);
    assert.deepEqual(letter.headers, {
      trace: "abc",
      [DLQ_HEADERS.reason]: "bad",
      [DLQ_HEADERS.topic]: "brewgate.members",
      [DLQ_HEADERS.partition]: "2",
      [DLQ_HEADERS.offset]: "41",
    });
  });
});
