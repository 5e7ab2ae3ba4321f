import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newClusterId } from "../../dev/kafka-broker";

describe("Kafka broker helpers", () => {
  it("makes cluster ids the storage tool accepts: 22 base64url characters, never a leading '-'", () => {
    // A leading '-' comes up once in 64 ids; 5000 tries all but guarantee one was drawn and refused.
    const ids = Array.from({ length: 5000 }, newClusterId);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    assert.equal(new Set(ids).size, ids.length);
  });
});
