import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { seedDemoData } from "../../dev/demo-seed";
import { startSidecar } from "../../dev/sidecar-process";
import { createDb, type Db } from "../../src/db/client";
import { InferenceClient } from "../../src/inference/client";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const run = promisify(execFile);
const EXPORT = join(REPO_ROOT, "dist", "scripts", "export-training.js");
const TRAIN = join(REPO_ROOT, "training", "train.py");
const SCORE = join(REPO_ROOT, "training", "score.py");
const TRAIN_DEMO = join(REPO_ROOT, "dist", "scripts", "train-demo.js");
const PYTHON = "/usr/bin/python3";

// Both compute in float32, with different operation orders, over a few hundred tokens; the label
// log-probs are around -8, so this bound is about 1e-5 relative. A wrong mask, position, rope
// scaling or weight layout moves them by far more.
const ATOL = 1e-4;

function torchMissing(): string | false {
  try {
    execFileSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" });
    return false;
  } catch {
    return "python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread)";
  }
}

interface Impression {
  prefixIds: number[];
  labels: { completion: string; ids: number[] }[];
  candidates: { itemId: string; suffixIds: number[] }[];
}

/** training/score.py's label log-probs: what the training code computes for the same tokens. */
function torchLogprobs(modelDir: string, imp: Impression): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCORE, "--model", modelDir], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out).labelLogprobs) : reject(new Error(`score.py exited ${code}`)),
    );
    child.stdin.end(JSON.stringify(imp));
  });
}

describe("training recipe: a checkpoint training/train.py writes scores the same in the sidecar", {
  timeout: 420_000,
  skip: torchMissing(),
}, () => {
  let pg: TestDatabase;
  let db: Db;
  let dir: string;
  let validation: Impression[];

  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url);
    await seedDemoData(db, {
      members: 6,
      items: 30,
      interactions: 80,
      impressions: 40,
      shownPerImpression: 4,
    });
    dir = await mkdtemp(join(tmpdir(), "brewgate-train-"));
    await run(
      process.execPath,
      [EXPORT, "--model-dir", testModel(), "--split", "0.6,0.2,0.2", "--out", dir],
      {
        env: { ...process.env, DATABASE_URL: pg.url, ATTRIBUTION_WINDOW_MS: String(3_600_000) },
        timeout: 120_000,
      },
    );
    validation = (await readFile(join(dir, "validation.ids.jsonl"), "utf8"))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l));
  });

  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Trains into `out`, then scores validation impressions in the sidecar and in PyTorch; the largest |difference|. */
  async function trainAndCompare(out: string, args: string[]): Promise<number> {
    const res = await run(
      PYTHON,
      [TRAIN, "--data", dir, "--out", out, "--batch", "2", "--eval-every", "0", "--seed", "5", ...args],
      { timeout: 120_000 },
    );
    assert.match(res.stdout, /tokens\/s/);
    assert.match(res.stdout, /val AUC/);
    return compareWithSidecar(out, validation);
  }

  /** Scores two of `imps` with the checkpoint in `out` in the sidecar and in PyTorch; the largest |difference|. */
  async function compareWithSidecar(out: string, imps: Impression[]): Promise<number> {
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    assert.equal(config.brewgate_random_weights, undefined);
    const sidecar = await startSidecar({ modelDir: out, threads: 1, kvBudgetMb: 64 });
    const client = new InferenceClient({ addresses: [sidecar.address] });
    let worst = 0;
    try {
      for (const imp of imps.slice(0, 2)) {
        const served = await client.score({
          requestId: "",
          prefixIds: imp.prefixIds,
          candidates: imp.candidates.map((c) => ({ id: c.itemId, ids: c.suffixIds })),
          labels: imp.labels.map((l) => ({ name: l.completion, ids: l.ids })),
          normalize: "FULL_VOCAB",
        });
        const trained = await torchLogprobs(out, imp);
        assert.equal(served.candidates.length, trained.length);
        served.candidates.forEach((c, i) => {
          c.labelLogprobs.forEach((lp, j) => {
            worst = Math.max(worst, Math.abs(lp - trained[i][j]));
            assert.ok(
              Math.abs(lp - trained[i][j]) <= ATOL,
              `candidate ${i} label ${j}: sidecar ${lp}, PyTorch ${trained[i][j]}`,
            );
          });
        });
      }
    } finally {
      client.close();
      await sidecar.stop();
    }
    return worst;
  }

  it("from scratch (a tiny llama with the export's tokenizer, --rope-theta), three steps", async (t) => {
    const out = join(dir, "scratch");
    const worst = await trainAndCompare(out, ["--preset", "tiny", "--steps", "3", "--rope-theta", "500000"]);
    // The RoPE base reaches config.json, and the sidecar reading it scores as PyTorch does (above).
    assert.equal(JSON.parse(await readFile(join(out, "config.json"), "utf8")).rope_theta, 500000);
    t.diagnostic(`largest |sidecar - PyTorch| label log-prob: ${worst.toExponential(2)}`);
  });

  it("fine-tuned from a checkpoint (llama3 rope_scaling), two steps", async (t) => {
    const worst = await trainAndCompare(join(dir, "finetuned"), ["--init", testModel(), "--steps", "2"]);
    t.diagnostic(`largest |sidecar - PyTorch| label log-prob: ${worst.toExponential(2)}`);
  });

  it("npm run train:demo at 2% of its size: one command from nothing to a served checkpoint of both tasks", async (t) => {
    const work = join(dir, "demo-work");
    const out = join(dir, "demo-model");
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const res = await run(
      process.execPath,
      [TRAIN_DEMO, "--scale", "0.02", "--steps", "2", "--batch", "2", "--work", work, "--out", out],
      { env: { ...env, DATA_DIR: join(dir, "demo-data") }, timeout: 200_000 },
    );
    assert.match(res.stdout, /val AUC job_apply [0-9.]+, job_save [0-9.]+/);
    assert.match(res.stdout.trim().split("\n").pop() ?? "", /^\{"out":/);
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    assert.match(config.brewgate_description, /^a toy model trained on synthetic data/);
    assert.deepEqual(config.brewgate_training.tasks, ["job_apply", "job_save"]);
    assert.equal(config.max_position_embeddings, 848);
    // Trained with the occurrence targets, on the prompts it is served with (prefixes of 200 tokens).
    assert.match(res.stdout, /occurrence tokens [0-9.]+ summary/);
    assert.equal(config.brewgate_prefix_tokens, 200);
    // The tokenizer is fitted to the marketplace: its words are single tokens.
    const tokenizer = await TextTokenizer.fromFile(join(out, "tokenizer.json"));
    for (const word of [" Kubernetes", " Databricks", " Hybrid", " interact"]) {
      assert.equal((await tokenizer.encode(word)).length, 1, word);
    }
    const imps = (await readFile(join(work, "export", "job_save", "validation.ids.jsonl"), "utf8"))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Impression);
    assert.ok(imps.length > 0);
    const worst = await compareWithSidecar(out, imps);
    t.diagnostic(`largest |sidecar - PyTorch| label log-prob: ${worst.toExponential(2)}`);
  });

  it("npm run train:demo stops when asked, its trainer with it", async () => {
    const work = join(dir, "stop-work");
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const child = spawn(
      process.execPath,
      [TRAIN_DEMO, "--scale", "0.02", "--steps", "5000", "--work", work, "--out", join(dir, "stop-model")],
      { env: { ...env, DATA_DIR: join(dir, "stop-data") }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    const training = new Promise<void>((resolve) =>
      child.stdout.on("data", (d) => {
        out += d;
        if (/^step +\d+\//m.test(out)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await training;
    child.kill("SIGTERM");
    assert.equal(await exited, 130);
    assert.match(out, /train:demo: stopping/);
    // The trainer it started is gone too.
    await new Promise((r) => setTimeout(r, 1000));
    const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("train.py") && l.includes(work));
    assert.deepEqual(left, []);
  });

  it("trains the same model twice from the same seed", async () => {
    const args = ["--preset", "tiny", "--steps", "2", "--limit", "4"];
    await run(PYTHON, [TRAIN, "--data", dir, "--out", join(dir, "a"), "--eval-every", "0", ...args]);
    await run(PYTHON, [TRAIN, "--data", dir, "--out", join(dir, "b"), "--eval-every", "0", ...args]);
    const [a, b] = await Promise.all([
      readFile(join(dir, "a", "model.safetensors")),
      readFile(join(dir, "b", "model.safetensors")),
    ]);
    assert.ok(a.equals(b), "two runs from the same seed wrote different weights");
  });
});
