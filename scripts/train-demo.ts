import { spawn } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEMO_MODEL_DIR } from "../dev/demo-model";
import { type DemoCounts, demoMarketplace, seedDemoData } from "../dev/demo-seed";
import { freePort } from "../dev/kafka-broker";
import { SIDECAR_DIR } from "../dev/sidecar-process";
import { marketplaceCorpus } from "../dev/tokenizer-corpus";
import { loadConfig } from "../src/config";
import { JOB_APPLY_TASK, JOB_SAVE_TASK } from "../src/domain/task-definition";
import { parseFlags, positiveInt, runCommand, UsageError } from "./cli";
import { openDatabase, stopOnSignals } from "./local-services";

/**
 * The training marketplace: the demo data's rule and vocabulary, other people and jobs (another
 * seed), about ten times as many impressions. Nothing of the demo data (seed 360), on which
 * `npm run eval` judges the model, is trained on.
 */
export const TRAINING_COUNTS: DemoCounts = {
  seed: 1360,
  members: 500,
  items: 1500,
  interactions: 4000,
  impressions: 3600,
  saveImpressions: 2400,
  shownPerImpression: 10,
  weeks: 12,
};

/**
 * The demo model's prompt prefix budget in tokens (the profile, no history: a model from scratch
 * learns to compare a job with the profile within the hour on such prompts, and not yet with the
 * history's long lines; README, "Training the demo model") and its context. The checkpoint
 * carries the budget (brewgate_prefix_tokens), so it is served on prompts like those it saw.
 */
export const DEMO_PREFIX_TOKENS = 200;
export const DEMO_CONTEXT = 848;
const DEMO_VOCAB = 1024;

const DESCRIPTION =
  "a toy model trained on synthetic data: the marketplace of dev/marketplace.ts (npm run train:demo); " +
  "its rankings mean something on that marketplace only";

const USAGE = `npm run train:demo -- [options]

Trains the demo model from nothing, in one command: simulates a training marketplace (seed
${TRAINING_COUNTS.seed}: ${TRAINING_COUNTS.members} members, ${TRAINING_COUNTS.items} jobs, ${TRAINING_COUNTS.impressions} job_apply and ${TRAINING_COUNTS.saveImpressions} job_save impressions)
into an embedded database of its own, fits a ${DEMO_VOCAB}-token BPE tokenizer to its prompts, exports
both tasks with npm run export:training (prefix budget ${DEMO_PREFIX_TOKENS} tokens), and trains one model on
both with training/train.py (preset small). The demo data of npm start (seed 360) is not trained
on: npm run eval judges the model there.

  --out DIR        where to write the checkpoint (default models/demo, what npm start serves)
  --work DIR       scratch directory: database, tokenizer, export (default DATA_DIR/train-demo)
  --steps N        optimizer steps (default 1500: about 35 minutes in all)
  --batch N        impressions per step (default 8)
  --seed N         the training run's seed (default 1)
  --scale F        the training marketplace at this fraction of its size (default 1; a quick check of
                   the whole recipe: --scale 0.05 --steps 2)`;

function parse(argv: string[]) {
  const v = parseFlags(
    argv,
    {
      out: { type: "string" },
      work: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      seed: { type: "string" },
      scale: { type: "string" },
      help: { type: "boolean", default: false },
    },
    USAGE,
  );
  return {
    out: resolve(v.out ?? DEMO_MODEL_DIR),
    work: v.work ? resolve(v.work) : undefined,
    steps: positiveInt("steps", v.steps, 1500),
    batch: positiveInt("batch", v.batch, 8),
    seed: positiveInt("seed", v.seed, 1),
    scale: scaleOf(v.scale),
  };
}

function scaleOf(value: string | undefined): number {
  if (value === undefined) return 1;
  const f = Number(value);
  if (!(f > 0 && f <= 1)) throw new UsageError(`--scale must be in (0, 1], got '${value}'`);
  return f;
}

/** The training marketplace's counts at `scale` of its size. */
export function trainingCounts(scale = 1): DemoCounts {
  const c = TRAINING_COUNTS;
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return {
    ...c,
    members: n(c.members),
    items: Math.max(c.shownPerImpression, n(c.items)),
    interactions: n(c.interactions),
    impressions: n(c.impressions),
    saveImpressions: n(c.saveImpressions ?? 0),
  };
}

/** Runs a child to the end with its output shown; rejects naming it when it fails. */
function run(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env });
    const stop = () => child.kill("SIGTERM");
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    child.once("error", (err) => fail(new Error(`${what}: ${err.message}`)));
    child.once("exit", (code, signal) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      if (code === 0) ok();
      else fail(new Error(`${what} failed (${signal ?? `exit status ${code}`})`));
    });
  });
}

async function main() {
  const args = parse(process.argv.slice(2));
  const config = loadConfig();
  const work = args.work ?? join(config.DATA_DIR, "train-demo");
  const log = (line: string) => process.stdout.write(`train:demo: ${line}\n`);
  const started = Date.now();
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, "tokenizer"), { recursive: true });

  // 1. The training marketplace, written through the product's write paths into a database of
  //    its own (embedded, on a free port, so a running npm start is left alone).
  const port = await freePort();
  const opened = await openDatabase(
    loadConfig({ ...process.env, DATABASE_URL: undefined, DATA_DIR: work, EMBEDDED_DB_PORT: String(port) }),
  );
  let open = true;
  const closeDb = async () => {
    if (open) {
      open = false;
      await opened.close();
    }
  };
  stopOnSignals(log, closeDb);
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
  const tasks = [JOB_APPLY_TASK, JOB_SAVE_TASK];
  const counts = trainingCounts(args.scale);
  const exportDirs: string[] = [];
  try {
    log(`simulating the training marketplace (seed ${TRAINING_COUNTS.seed}) into ${opened.describe}`);
    const report = await seedDemoData(opened.db, counts);
    if (!report) throw new Error(`${work} already holds a database that is not the training marketplace`);
    log(`wrote ${report.members} members, ${report.items} jobs, ${report.impressions} impressions`);

    // 2. A tokenizer fitted to the marketplace's prompts.
    const corpus = join(work, "corpus.txt");
    await writeFile(corpus, marketplaceCorpus(demoMarketplace(counts), tasks));
    const tokenizerDir = join(work, "tokenizer");
    await run("gen_tokenizer.py", "/usr/bin/python3", [
      join(SIDECAR_DIR, "scripts", "gen_tokenizer.py"),
      "--vocab-size",
      String(DEMO_VOCAB),
      "--corpus",
      corpus,
      "--out",
      join(tokenizerDir, "tokenizer.json"),
      "--max-length",
      String(DEMO_CONTEXT),
    ]);

    // The export reads a model directory's tokenizer and context (config.json): the model to be
    // trained's, so prompts are cut to what it will be served.
    await writeFile(
      join(tokenizerDir, "config.json"),
      JSON.stringify({ vocab_size: DEMO_VOCAB, max_position_embeddings: DEMO_CONTEXT }),
    );

    // 3. Each task's impressions as training examples, through the export command itself.
    for (const task of tasks) {
      const out = join(work, "export", task.name);
      await run(
        `export of ${task.name}`,
        process.execPath,
        [
          join(__dirname, "export-training.js"),
          "--task",
          task.name,
          "--split",
          "0.9,0.1,0",
          // Simulated answers come within 6 hours of their impression.
          "--gap-ms",
          String(6 * 3_600_000),
          "--model-dir",
          tokenizerDir,
          "--out",
          out,
        ],
        { ...process.env, DATABASE_URL: url, PROMPT_MAX_TOKENS: String(DEMO_PREFIX_TOKENS) },
      );
      exportDirs.push(out);
    }
  } finally {
    await closeDb();
  }

  // 4. One model for both tasks.
  await run("training/train.py", "/usr/bin/python3", [
    resolve(__dirname, "..", "..", "training", "train.py"),
    "--data",
    exportDirs.join(","),
    "--out",
    args.out,
    "--preset",
    "small",
    "--tokenizer-dir",
    join(work, "tokenizer"),
    "--max-positions",
    String(DEMO_CONTEXT),
    "--steps",
    String(args.steps),
    "--batch",
    String(args.batch),
    "--lr",
    "2e-3",
    // Each candidate word's occurrence in the profile and history lines: the dense signal that
    // grows the comparing heads a model from scratch lacks (training/occurrence.py).
    "--occurrence-weight",
    "3",
    "--prefix-tokens",
    String(DEMO_PREFIX_TOKENS),
    // One thread: a model this small runs 2.6x faster on one (5,478 tokens/s) than on two (2,129),
    // where OpenBLAS spends its time handing small products between threads.
    "--threads",
    "1",
    "--seed",
    String(args.seed),
    "--eval-every",
    "250",
    "--val-limit",
    "100",
    "--log-every",
    "10",
    "--describe",
    DESCRIPTION,
  ]);
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`done in ${seconds} s: ${args.out}`);
  process.stdout.write(`${JSON.stringify({ out: args.out, seconds, steps: args.steps })}\n`);
  process.exit(0);
}

if (require.main === module) runCommand("train:demo", USAGE, main);
