import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { buildPrompt, PromptTooLongError } from "../../src/prompt/builder";
import { PrefixCache } from "../../src/prompt/prefix-cache";
import type { HistoryEntry } from "../../src/prompt/template";
import { TokenCache } from "../../src/prompt/token-cache";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { testModel } from "../support/models";

const member = {
  currentPosition: "software engineer",
  currentCompany: "Google",
  location: "Sunnyvale, California",
};
const job = (i: number) => ({
  title: `Software Engineer ${i}`,
  location: "New York",
  country: "USA",
  company: `Company ${i}`,
  description: "Build distributed systems in Go and Kubernetes.",
});
// Newest first, alternating actions.
const history: HistoryEntry[] = Array.from({ length: 40 }, (_, i) => ({
  action: i % 3 === 0 ? "APPLY" : i % 3 === 1 ? "VIEW" : "DISMISS",
  item: job(i),
}));
const candidates = [
  { id: "c1", ...job(100) },
  { id: "c2", ...job(101), description: "Café ☕ — naïve résumé 日本語" },
];

describe("prompt builder with the model's tokenizer", () => {
  let tk: TextTokenizer;
  before(async () => {
    tk = await TextTokenizer.fromFile(join(testModel(), "tokenizer.json"));
  });

  it("tokenizes prefix and suffixes separately exactly as the whole prompt tokenizes", async () => {
    const p = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: 100_000,
    });
    assert.equal(p.historyUsed, 40);
    for (const c of p.candidates) {
      for (const l of p.labels) {
        const whole = [...tk.leadingSpecialIds, ...(await tk.encode(`${p.prefixText}${c.text} ${l.answer}`))];
        assert.deepEqual([...p.prefixIds, ...c.ids, ...l.ids], whole, `candidate ${c.id}, label ${l.answer}`);
      }
    }
    assert.deepEqual(
      p.labels.map((l) => [l.answer, l.positive]),
      [
        ["apply", true],
        ["view", false],
        ["dismiss", false],
      ],
    );
    assert.equal(await tk.decode(p.candidates[1].ids), p.candidates[1].text);
  });

  it("keeps the newest history that fits the token budget, counted on the exact text", async () => {
    const full = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: 100_000,
    });
    const none = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history: [],
      candidates,
      maxPrefixTokens: 100_000,
    });
    const budget = Math.floor((full.prefixIds.length + none.prefixIds.length) / 2);
    const cut = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: budget,
    });
    assert.ok(cut.prefixIds.length <= budget, `${cut.prefixIds.length} <= ${budget}`);
    assert.ok(cut.historyUsed > 0 && cut.historyUsed < 40, `kept ${cut.historyUsed}`);
    // The newest entries are the ones kept, and one more would not have fit.
    const kept = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history: history.slice(0, cut.historyUsed),
      candidates,
      maxPrefixTokens: 100_000,
    });
    assert.equal(kept.prefixText, cut.prefixText);
    const oneMore = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history: history.slice(0, cut.historyUsed + 1),
      candidates,
      maxPrefixTokens: 100_000,
    });
    assert.ok(oneMore.prefixIds.length > budget);
    assert.match(cut.prefixText, /Software Engineer 0\b/);
    assert.doesNotMatch(cut.prefixText, /Software Engineer 39\b/);
  });

  it("leaves room in the model's context for the longest suffix, label and reserve", async () => {
    const full = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: 100_000,
    });
    const longestSuffix = Math.max(...full.candidates.map((c) => c.ids.length));
    const longestLabel = Math.max(...full.labels.map((l) => l.ids.length));
    const context = full.prefixIds.length + longestSuffix + longestLabel - 1;
    const fit = await buildPrompt(tk, {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: 100_000,
      maxContextTokens: context,
      reserveTokens: 30,
    });
    assert.ok(fit.historyUsed < 40);
    assert.ok(fit.prefixIds.length + longestSuffix + longestLabel + 30 <= context);
  });

  it("gives the same prompt from its caches, and misses when the history or budget changes", async () => {
    const prefixes = new PrefixCache(10);
    const pieces = new TokenCache(100);
    const input = {
      task: JOB_APPLY_TASK,
      member,
      history,
      candidates,
      maxPrefixTokens: 900,
      caches: { prefixes, pieces },
    };
    const miss = await buildPrompt(tk, input);
    const hit = await buildPrompt(tk, input);
    assert.deepEqual(hit, miss);
    assert.equal(prefixes.size, 1);
    // Every candidate suffix and every answer label, once each.
    assert.equal(pieces.size, candidates.length + JOB_APPLY_TASK.actions.length);
    const uncached = await buildPrompt(tk, { ...input, caches: undefined });
    assert.deepEqual(uncached, miss);
    await buildPrompt(tk, { ...input, history: history.slice(1) });
    await buildPrompt(tk, { ...input, maxPrefixTokens: 800 });
    assert.equal(prefixes.size, 3);
  });

  it("fails clearly when even an empty history does not fit", async () => {
    await assert.rejects(
      buildPrompt(tk, { task: JOB_APPLY_TASK, member, history, candidates, maxPrefixTokens: 20 }),
      (err: unknown) => err instanceof PromptTooLongError && /over the budget of 20/.test(err.message),
    );
  });
});
