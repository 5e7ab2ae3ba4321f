import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Tokenizer } from "tokenizers";
import { JOB_APPLY_TASK, JOB_SAVE_TASK, taskDefinition } from "../../src/domain/task-definition";
import { renderLabel } from "../../src/prompt/template";
import { promptVersion } from "../../src/prompt/version";
import { REPO_ROOT } from "../support/models";

describe("the built-in tasks", { timeout: 60_000 }, () => {
  let dir: string;
  let tokenizer: Tokenizer;
  before(() => {
    // The demo model's tokenizer: the sidecar generator's byte-level BPE with 4,096 ids.
    dir = mkdtempSync(join(tmpdir(), "brewgate-tasks-"));
    const out = join(dir, "tokenizer.json");
    execFileSync(
      "/usr/bin/python3",
      [
        join(REPO_ROOT, "native", "cuda-server", "scripts", "gen_tokenizer.py"),
        "--vocab-size",
        "4096",
        "--out",
        out,
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    tokenizer = Tokenizer.fromFile(out);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("are valid task definitions with words of their own", () => {
    for (const t of [JOB_APPLY_TASK, JOB_SAVE_TASK]) assert.deepEqual(taskDefinition.parse(t), t);
    assert.equal(JOB_SAVE_TASK.name, "job_save");
    assert.deepEqual(
      JOB_SAVE_TASK.actions.map((a) => [a.action, a.historyPhrase, a.positive]),
      [
        ["SAVE", "saved", true],
        ["VIEW", "viewed", false],
        ["DISMISS", "dismissed", false],
      ],
    );
    assert.notEqual(JOB_SAVE_TASK.instruction, JOB_APPLY_TASK.instruction);
    assert.notEqual(promptVersion(JOB_SAVE_TASK), promptVersion(JOB_APPLY_TASK));
  });

  it("answer in one token of the demo model's tokenizer each", async () => {
    for (const t of [JOB_APPLY_TASK, JOB_SAVE_TASK]) {
      for (const a of t.actions) {
        const ids = (
          await tokenizer.encode(renderLabel(a.answer), null, { addSpecialTokens: false })
        ).getIds();
        assert.equal(ids.length, 1, `${t.name}'s answer "${renderLabel(a.answer)}" is ${ids.length} tokens`);
      }
    }
    // (Why job_save's positive answer is " interact", not " save": " save" and " skip" are three
    // tokens each in this tokenizer.)
  });
});
