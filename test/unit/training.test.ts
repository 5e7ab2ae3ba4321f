import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "../support/models";

const PYTHON = "/usr/bin/python3";

function torchMissing(): string | false {
  try {
    execFileSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" });
    return false;
  } catch {
    return "python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread)";
  }
}

describe("training/ (Python): forward vs the NumPy reference, packed vs one prompt per candidate, loss, AUC", {
  timeout: 120_000,
  skip: torchMissing(),
}, () => {
  it("python3 -m unittest discover -s training passes", async () => {
    const res = await promisify(execFile)(
      PYTHON,
      ["-m", "unittest", "discover", "-s", join(REPO_ROOT, "training")],
      {
        cwd: REPO_ROOT,
        timeout: 100_000,
      },
    ).catch((err: { stderr?: string; message: string }) => {
      assert.fail(`training's Python tests failed:\n${err.stderr ?? err.message}`);
    });
    assert.match(res.stderr, /\nOK\n?$/);
  });
});
