import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { prefixBudget, readModelCard } from "../../src/inference/model-card";

describe("model card: what the gateway reads from a checkpoint's config.json", { timeout: 30_000 }, () => {
  const card = (cfg: object) => {
    const dir = mkdtempSync(join(tmpdir(), "brewgate-card-"));
    try {
      writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
      return readModelCard(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("reads the prefix budget a model was trained with, and nothing that is not a positive whole number", () => {
    assert.equal(card({ brewgate_prefix_tokens: 200 }).prefixTokens, 200);
    for (const bad of ["200", -1, 0, 1.5, null])
      assert.equal(card({ brewgate_prefix_tokens: bad }).prefixTokens, null);
    assert.equal(card({}).prefixTokens, null);
    assert.equal(card({ max_position_embeddings: 848 }).maxContext, 848);
  });

  it("serves the smaller of PROMPT_MAX_TOKENS and the model's own budget", () => {
    assert.equal(prefixBudget(4096, 200), 200);
    assert.equal(prefixBudget(128, 200), 128);
    assert.equal(prefixBudget(4096, null), 4096);
    assert.equal(prefixBudget(4096, undefined), 4096);
  });

  it("names the file it cannot read", () => {
    assert.throws(() => readModelCard(join(tmpdir(), "no-such-model")), /no-such-model.*config\.json/);
  });
});
