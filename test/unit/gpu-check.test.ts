import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

// gpu-check.sh --bundle runs on a GPU machine this suite never has, lent for minutes at a time:
// its orchestration (time budget, step statuses, the JSON line) is checked here on a bundle of
// stand-in binaries, so the one run on a GPU is spent on the GPU code. The stand-ins fake the
// GPU boundary only: the real script, summary and compare_hf.py run.

const SCRIPTS = join(__dirname, "..", "..", "..", "native", "cuda-server", "scripts");
const work = mkdtempSync(join(tmpdir(), "gpu-check-"));
after(() => rmSync(work, { recursive: true, force: true }));

function executable(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

const GTEST_PASS = JSON.stringify({
  tests: 3,
  testsuites: [
    {
      name: "CudaGemm",
      testsuite: [
        { name: "MatchesReference", result: "COMPLETED" },
        { name: "Grouped", result: "COMPLETED" },
      ],
    },
    { name: "CudaAttention", testsuite: [{ name: "Decode", result: "SKIPPED" }] },
  ],
});
const GTEST_FAIL = JSON.stringify({
  tests: 2,
  testsuites: [
    {
      name: "CudaGemm",
      testsuite: [
        { name: "MatchesReference", result: "COMPLETED" },
        { name: "Grouped", result: "COMPLETED", failures: [{ failure: "expected 1, got 2" }] },
      ],
    },
  ],
});

interface Fake {
  /** What the stand-in for brewgate-cuda-tests does. */
  tests: "pass" | "fail" | "hang";
  /** Whether the compute-sanitizer stand-in's racecheck reports hazards. */
  races?: boolean;
  gpu?: boolean;
}

/** A bundle folder of stand-ins plus a PATH holding nvidia-smi and compute-sanitizer stand-ins. */
function fakeBundle(name: string, fake: Fake): { dir: string; path: string } {
  const dir = join(work, name);
  const fakeBin = join(dir, "fakebin");
  const pyFake = join(dir, "pyfake", "transformers");
  for (const d of ["bin", "lib", "models", "scripts", "fakebin"])
    mkdirSync(join(dir, d), { recursive: true });
  mkdirSync(pyFake, { recursive: true });
  // compare_hf.py must find no transformers, whatever this machine has installed.
  writeFileSync(join(pyFake, "__init__.py"), 'raise ImportError("stand-in: no transformers")\n');
  for (const s of [
    "gpu-check.sh",
    "gpu_check_summary.py",
    "compare_hf.py",
    "gen_model.py",
    "gen_tokenizer.py",
  ]) {
    copyFileSync(join(SCRIPTS, s), join(dir, "scripts", s));
  }
  chmodSync(join(dir, "scripts", "gpu-check.sh"), 0o755);
  const report = fake.tests === "fail" ? GTEST_FAIL : GTEST_PASS;
  executable(
    join(dir, "bin", "brewgate-cuda-tests"),
    fake.tests === "hang"
      ? "sleep 60"
      : `for a in "$@"; do case "$a" in --gtest_output=json:*) printf '%s' '${report}' > "\${a#--gtest_output=json:}";; esac; done
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
exit ${fake.tests === "fail" ? 1 : 0}`,
  );
  executable(
    join(dir, "bin", "brewgate-cuda-bench"),
    `while [ "$#" -gt 0 ]; do [ "$1" = --json ] && printf '{"device":"stand-in","copy_gbps":4300}\\n' > "$2"; shift; done`,
  );
  if (fake.gpu !== false) executable(join(fakeBin, "nvidia-smi"), 'echo "GPU 0: stand-in (UUID: GPU-0)"');
  executable(
    join(fakeBin, "compute-sanitizer"),
    `tool=$2; shift 4; "$@" >/dev/null; rc=$?
if [ "$tool" = racecheck ]; then ${
      fake.races
        ? 'echo "========= RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)"; exit 1'
        : 'echo "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"; exit 0'
    }; fi
echo "========= ERROR SUMMARY: 0 errors"; exit $rc`,
  );
  return { dir, path: `${fakeBin}:${process.env.PATH}` };
}

function runCheck(name: string, fake: Fake, budget?: number) {
  const { dir, path } = fakeBundle(name, fake);
  const out = join(dir, "out");
  const logs = join(dir, "logs");
  mkdirSync(out);
  const started = Date.now();
  const r = spawnSync("sh", [join(dir, "scripts", "gpu-check.sh"), "--bundle", dir], {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...process.env,
      PATH: path,
      OUT: out,
      GPU_CHECK_LOGS: logs,
      PYTHONPATH: join(dir, "pyfake"),
      ...(budget ? { GPU_CHECK_BUDGET_S: String(budget) } : {}),
    },
  });
  const lines = r.stdout.trim().split("\n");
  return {
    status: r.status,
    json: JSON.parse(lines[lines.length - 1]),
    stdout: r.stdout,
    dir,
    out,
    logs,
    seconds: (Date.now() - started) / 1000,
  };
}

describe("gpu-check.sh --bundle", () => {
  it("reports every step, counts tests, and calls a run with a skipped comparison incomplete, not passed", () => {
    const r = runCheck("skip", { tests: "pass" });
    assert.equal(r.json.mode, "bundle");
    assert.deepEqual(Object.keys(r.json.steps), [
      "gpu-tests",
      "memcheck",
      "racecheck",
      "compare-hf",
      "compare-hf-cpu",
      "bench",
    ]);
    assert.equal(r.json.steps["gpu-tests"].status, "ok");
    assert.equal(r.json.steps["compare-hf"].status, "skipped");
    assert.deepEqual(r.json.tests, { passed: 2, failed: 0, skipped: 1, failed_names: [] });
    assert.deepEqual(r.json.sanitizer.memcheck, { errors: 0 });
    assert.deepEqual(r.json.sanitizer.racecheck, { hazards: 0, errors: 0, warnings: 0 });
    assert.equal(r.json.steps.racecheck.status, "ok");
    assert.match(r.json.compare_hf.cuda.skipped, /transformers not importable/);
    assert.deepEqual(r.json.bench, { device: "stand-in", copy_gbps: 4300 });
    assert.equal(r.json.gpu_check, "incomplete");
    assert.equal(r.status, 1);
    // The bundle's own libraries come first on the binaries' library path.
    assert.match(
      readFileSync(join(r.logs, "gpu-tests.log"), "utf8"),
      new RegExp(`LD_LIBRARY_PATH=${join(r.dir, "lib")}`),
    );
    // What comes back from the GPU machine: the JSON line and the logs, two files.
    assert.deepEqual(readdirSync(r.out).sort(), ["gpu-check-logs.tar.gz", "gpu-check.json"]);
    assert.deepEqual(JSON.parse(readFileSync(join(r.out, "gpu-check.json"), "utf8")), r.json);
    const listed = spawnSync("tar", ["tzf", join(r.out, "gpu-check-logs.tar.gz")], {
      encoding: "utf8",
    }).stdout;
    for (const f of ["./summary.tsv", "./gpu-tests.json", "./memcheck.log", "./bench.json"])
      assert.ok(listed.includes(f), listed);
  });

  it("names the failing test and counts the sanitizer's findings", () => {
    const r = runCheck("fail", { tests: "fail", races: true });
    assert.deepEqual(r.json.sanitizer.racecheck, { hazards: 2, errors: 1, warnings: 1 });
    assert.equal(r.json.steps.racecheck.status, "FAIL(1)");
    assert.equal(r.json.steps["gpu-tests"].status, "FAIL(1)");
    assert.deepEqual(r.json.tests.failed_names, ["CudaGemm.Grouped"]);
    assert.equal(r.json.gpu_check, "failed");
  });

  it("cuts a hanging step at the budget and skips what no longer fits, ending on time", () => {
    const r = runCheck("hang", { tests: "hang" }, 8);
    assert.match(r.json.steps["gpu-tests"].status, /^FAIL\(timeout \d+s\)$/);
    assert.equal(r.json.tests, null, "no report from a test run that was cut");
    const skipped = Object.entries(r.json.steps).filter(
      ([, s]) => (s as { status: string }).status === "SKIP(time)",
    );
    assert.ok(skipped.length >= 1, JSON.stringify(r.json.steps));
    assert.equal(r.json.gpu_check, "failed");
    assert.ok(r.seconds < 30, `ended after ${r.seconds} s`);
  });

  it("refuses at once without a GPU", () => {
    const r = runCheck("nogpu", { tests: "pass", gpu: false });
    assert.deepEqual(r.json, { gpu_check: "failed", reason: "no CUDA device" });
    assert.equal(r.status, 1);
  });
});
