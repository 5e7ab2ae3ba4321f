import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PrefixCache } from "../../src/prompt/prefix-cache";

describe("prefix cache", () => {
  const entry = (n: number) => ({ text: `t${n}`, ids: [n], kept: n });

  it("evicts the least recently used entry beyond its size", () => {
    const c = new PrefixCache(2);
    c.set("a", entry(1));
    c.set("b", entry(2));
    assert.deepEqual(c.get("a"), entry(1)); // a is now the most recent
    c.set("c", entry(3));
    assert.equal(c.get("b"), undefined);
    assert.deepEqual(c.get("a"), entry(1));
    assert.deepEqual(c.get("c"), entry(3));
    assert.equal(c.size, 2);
  });

  it("keys on the text and the budget", () => {
    assert.equal(PrefixCache.key("x", 10), PrefixCache.key("x", 10));
    assert.notEqual(PrefixCache.key("x", 10), PrefixCache.key("x", 11));
    assert.notEqual(PrefixCache.key("x", 10), PrefixCache.key("y", 10));
  });

  it("keeps nothing when sized 0", () => {
    const c = new PrefixCache(0);
    c.set("a", entry(1));
    assert.equal(c.get("a"), undefined);
  });
});
