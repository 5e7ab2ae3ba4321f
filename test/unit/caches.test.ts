import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "../../src/db/client";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { PrefixCache } from "../../src/prompt/prefix-cache";
import { TokenCache } from "../../src/prompt/token-cache";
import type { TextTokenizer } from "../../src/prompt/tokenizer";
import { TaskCache } from "../../src/ranking/task-cache";

/** Lets settled reads run their callbacks. */
const settle = () => sleep(5);

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

  it("builds a prefix once for a burst of requests, and again after a failed build", async () => {
    const c = new PrefixCache(10);
    let builds = 0;
    const build = async () => {
      builds++;
      await new Promise((r) => setImmediate(r));
      return entry(builds);
    };
    const burst = await Promise.all([1, 2, 3, 4].map(() => c.getOrBuild("k", build)));
    assert.equal(builds, 1);
    assert.deepEqual(burst, [entry(1), entry(1), entry(1), entry(1)]);
    assert.deepEqual(await c.getOrBuild("k", build), entry(1), "kept");
    const failing = () => Promise.reject(new Error("too long"));
    await assert.rejects(Promise.all([c.getOrBuild("x", failing), c.getOrBuild("x", failing)]), /too long/);
    assert.deepEqual(await c.getOrBuild("x", build), entry(2), "a failure is not kept");
  });
});

describe("token cache", () => {
  /** A tokenizer boundary that records every batch it is asked for: one id per character. */
  function countingTokenizer() {
    const batches: string[][] = [];
    const tk = {
      encodeMany: async (texts: string[]) => {
        batches.push(texts);
        return texts.map((t) => [...t].map((ch) => ch.charCodeAt(0)));
      },
    } as unknown as TextTokenizer;
    return { tk, batches };
  }

  it("tokenizes only the misses, in one batch, and answers in the order asked", async () => {
    const { tk, batches } = countingTokenizer();
    const cache = new TokenCache(10);
    assert.deepEqual(await cache.encodeMany(tk, ["ab", "c"]), [[97, 98], [99]]);
    assert.deepEqual(await cache.encodeMany(tk, ["d", "ab", "e", "c"]), [[100], [97, 98], [101], [99]]);
    assert.deepEqual(batches, [
      ["ab", "c"],
      ["d", "e"],
    ]);
    await cache.encodeMany(tk, ["e", "d", "c", "ab"]);
    assert.equal(batches.length, 2, "all hits: no tokenizer call");
  });

  it("evicts the least recently used text beyond its size", async () => {
    const { tk, batches } = countingTokenizer();
    const cache = new TokenCache(2);
    await cache.encodeMany(tk, ["a", "b"]);
    await cache.encodeMany(tk, ["a"]); // a is now the most recent
    await cache.encodeMany(tk, ["c"]); // evicts b
    await cache.encodeMany(tk, ["a", "b"]);
    assert.deepEqual(batches, [["a", "b"], ["c"], ["b"]]);
    assert.equal(cache.size, 2);
  });
});

describe("task cache", () => {
  /** A database boundary that counts task reads; `rows` is what is stored. */
  function countingDb(rows: Map<string, unknown>) {
    const reads: string[] = [];
    const db = {
      task: {
        findUnique: async ({ where }: { where: { name: string } }) => {
          reads.push(where.name);
          return rows.get(where.name) ?? null;
        },
      },
    } as unknown as Db;
    return { db, reads };
  }
  const row = (instruction: string) => ({ ...JOB_APPLY_TASK, instruction, note: null });

  it("reads a task once within its time to live, again after it or after invalidate", async () => {
    const rows = new Map([["job_apply", row("first")]]);
    const { db, reads } = countingDb(rows);
    const cache = new TaskCache(60);
    assert.equal((await cache.get(db, "job_apply")).instruction, "first");
    rows.set("job_apply", row("second"));
    assert.equal((await cache.get(db, "job_apply")).instruction, "first");
    assert.equal(reads.length, 1);
    cache.invalidate("job_apply");
    assert.equal((await cache.get(db, "job_apply")).instruction, "second");
    rows.set("job_apply", row("third"));
    await sleep(80);
    // Expired: this request is answered from the copy and starts the read of the new one.
    assert.equal((await cache.get(db, "job_apply")).instruction, "second");
    await settle();
    assert.equal((await cache.get(db, "job_apply")).instruction, "third");
    assert.equal(reads.length, 3);
  });

  /** Like countingDb, but each read takes the row as it is when asked and answers on release. */
  function gatedDb(rows: Map<string, unknown>) {
    const waiting: (() => void)[] = [];
    let reads = 0;
    const db = {
      task: {
        findUnique: async ({ where }: { where: { name: string } }) => {
          reads++;
          const value = rows.get(where.name) ?? null;
          await new Promise<void>((r) => waiting.push(r));
          return value;
        },
      },
    } as unknown as Db;
    return { db, reads: () => reads, release: () => waiting.shift()?.() };
  }

  it("answers from an expired copy while one read refreshes it; a failed refresh drops the copy", async () => {
    const rows = new Map([["job_apply", row("first")]]);
    const { db, reads, release } = gatedDb(rows);
    const cache = new TaskCache(30);
    const first = cache.get(db, "job_apply");
    release();
    assert.equal((await first).instruction, "first");
    await sleep(50);
    rows.set("job_apply", row("second"));
    // Three requests while the refresh waits on the database: none of them waits, one read.
    const during = await Promise.all([1, 2, 3].map(() => cache.get(db, "job_apply")));
    assert.deepEqual(
      during.map((t) => t.instruction),
      ["first", "first", "first"],
    );
    assert.equal(reads(), 2);
    release();
    await settle();
    assert.equal((await cache.get(db, "job_apply")).instruction, "second");
    assert.equal(reads(), 2);

    // The task is gone: the refresh fails, the copy is dropped, the next request sees the error.
    await sleep(50);
    rows.delete("job_apply");
    assert.equal((await cache.get(db, "job_apply")).instruction, "second");
    release();
    await settle();
    const next = cache.get(db, "job_apply");
    release();
    await assert.rejects(next, /Task 'job_apply' does not exist/);
  });

  it("does not let a refresh that began before invalidate replace what was read after it", async () => {
    const rows = new Map([["job_apply", row("old")]]);
    const { db, release } = gatedDb(rows);
    const cache = new TaskCache(30);
    const first = cache.get(db, "job_apply");
    release();
    await first;
    await sleep(50);
    await cache.get(db, "job_apply"); // expired: starts a refresh, which has read "old"
    rows.set("job_apply", row("new"));
    cache.invalidate("job_apply"); // as upsertTask does
    const fresh = cache.get(db, "job_apply");
    release(); // the refresh answers "old" first
    release();
    assert.equal((await fresh).instruction, "new");
    await settle();
    assert.equal((await cache.get(db, "job_apply")).instruction, "new");
  });

  it("does not keep an unknown task: one created later is found", async () => {
    const rows = new Map<string, unknown>();
    const { db } = countingDb(rows);
    const cache = new TaskCache(60_000);
    await assert.rejects(cache.get(db, "job_apply"), /Task 'job_apply' does not exist/);
    rows.set("job_apply", row("created"));
    assert.equal((await cache.get(db, "job_apply")).instruction, "created");
  });

  it("reads every time when its time to live is 0", async () => {
    const { db, reads } = countingDb(new Map([["job_apply", row("x")]]));
    const cache = new TaskCache(0);
    await cache.get(db, "job_apply");
    await cache.get(db, "job_apply");
    assert.equal(reads.length, 2);
  });
});
