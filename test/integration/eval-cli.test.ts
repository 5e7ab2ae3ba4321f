import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { seedDemoData } from "../../dev/demo-seed";
import type { SidecarProcess } from "../../dev/sidecar-process";
import { createDb, type Db } from "../../src/db/client";
import { insertImpressions } from "../../src/db/impressions";
import { rocAuc } from "../../src/evaluation/metrics";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestSidecar } from "../support/sidecar";

const EVAL = join(REPO_ROOT, "dist", "scripts", "eval.js");
const WEEK = 7 * 86_400_000;

interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * `node dist/scripts/eval.js ARGS` as a person runs it, in a directory of its own (no .env, its
 * own DATA_DIR), against the test database; `onStderr` sees what it has written so far.
 */
function runEval(
  cwd: string,
  env: Record<string, string>,
  args: string[],
  onStderr?: (text: string, child: ChildProcess) => void,
): Promise<Finished> {
  const base = { ...process.env };
  for (const k of ["DATABASE_URL", "INFERENCE_ADDRESSES", "MODEL_DIR", "TOKENIZER_PATH", "DATA_DIR"])
    delete base[k];
  return new Promise((resolve) => {
    let stderr = "";
    const child = execFile(
      process.execPath,
      [EVAL, ...args],
      { cwd, env: { ...base, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderrAll) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr: stderrAll,
        });
      },
    );
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
      onStderr?.(stderr, child);
    });
  });
}

/** Processes whose command line holds `text` (zombies have none). */
async function processesWith(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes("brewgate-sidecar") && cmdline.includes(text)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const lastJson = (stdout: string) => {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown> & {
    baselines: Record<string, Record<string, number | null>>;
    history_sweep: Record<string, unknown>[];
  };
};

/** The rows of a report's "Runs of this task" table: [number, when, source, this run?]. */
const runRows = (html: string) =>
  [
    ...html
      .slice(html.indexOf("Runs of this task"))
      .matchAll(
        /<tr( class="this")?><td>#(\d+)<\/td><td>([^<]*)<\/td><td>[^<]*<\/td><td>[^<]*<\/td><td>([^<]*)<\/td>/g,
      ),
  ].map((m) => [Number(m[2]), m[3], m[4], m[1] !== undefined]);

// The dataset, worked by hand. Four jobs in every list, shown in the same order; j4's age is
// unknown. History events (each on its member's lines; repeated ones count once, and L1 lists
// one from after its own time, which its prompt drops):
//   j1: 02-01 (m1), 02-02 (m2)              -> 2 before every list
//   j2: 03-02 12:00 (m1)                     -> 0 for L1, L2 (09:00 on 03-02); 1 from L3 on
//   j3: none                                 -> 0
//   j4: 02-10 (m3), 03-04 00:00, 03-05 00:00 -> 1 for L1-L3, 2 for L4, 3 for L5, L6
const at = (day: number, hour = 9) => new Date(Date.UTC(2026, 2, day, hour)).toISOString();
const feb = (day: number) => new Date(Date.UTC(2026, 1, day)).toISOString();
const JOBS: Record<string, { id: string; title: string; createdAt?: string }> = {
  j1: { id: "j1", title: "Backend Engineer", createdAt: "2026-01-01T00:00:00Z" },
  j2: { id: "j2", title: "Data Engineer", createdAt: "2026-01-02T00:00:00Z" },
  j3: { id: "j3", title: "Frontend Engineer", createdAt: "2026-01-03T00:00:00Z" },
  j4: { id: "j4", title: "Site Reliability Engineer" },
};
const ev = (job: string, action: string, occurredAt: string) => ({ action, occurredAt, item: JOBS[job] });
const E = {
  j1m1: ev("j1", "APPLY", feb(1)),
  j1m2: ev("j1", "VIEW", feb(2)),
  j2m1: ev("j2", "APPLY", at(2, 12)),
  j4m3: ev("j4", "APPLY", feb(10)),
  j4m2: ev("j4", "VIEW", at(4, 0)),
  j4m1: ev("j4", "APPLY", at(5, 0)),
};
// [list, member, day, history, outcomes of j1..j4, true P(APPLY) of j1..j4]
const LISTS: [string, string, number, object[], (string | null)[], number[]][] = [
  ["L1", "m1", 1, [E.j1m1, E.j2m1], ["APPLY", null, "VIEW", null], [0.6, 0.2, 0.3, 0.1]],
  ["L2", "m2", 2, [E.j1m2], [null, "APPLY", null, "DISMISS"], [0.3, 0.5, 0.2, 0.1]],
  ["L3", "m1", 3, [E.j1m1, E.j2m1], ["VIEW", null, "APPLY", null], [0.2, 0.1, 0.4, 0.3]],
  ["L4", "m3", 4, [E.j4m3], [null, null, null, "APPLY"], [0.1, 0.2, 0.2, 0.7]],
  ["L5", "m2", 5, [E.j1m2, E.j4m2], ["APPLY", "VIEW", null, null], [0.5, 0.3, 0.1, 0.2]],
  ["L6", "m1", 6, [E.j1m1, E.j2m1, E.j4m1], [null, null, null, null], [0.2, 0.1, 0.3, 0.25]],
];
/** A prefix budget that leaves room for the profile but not for all of the history. */
const PREFIX_BUDGET = 120;

const DATASET = LISTS.map(([id, member, day, history, outcomes, pApply]) =>
  JSON.stringify({
    id,
    at: at(day),
    member: { id: member, currentPosition: "software engineer", skills: ["Go", "SQL"] },
    history,
    candidates: ["j1", "j2", "j3", "j4"].map((j, i) => ({
      item: JOBS[j],
      outcome: outcomes[i],
      trueProbabilities: { APPLY: pApply[i], VIEW: 0.3, DISMISS: 0.1 },
    })),
  }),
).join("\n");

// Popularity AUC by hand. Positives (APPLY) score 2 (L1 j1, L4 j4, L5 j1) and 0 (L2 j2, L3 j3).
// The 19 negatives score 0 six times, 1 seven times, 2 four times, 3 twice. A 2 beats 13, ties 4
// (2): 15, three times; a 0 ties 6 (3), twice: (45 + 6) / (5 * 19).
const POPULARITY_AUC = 51 / 95;
// Recency: j4 (unknown) < j1 < j2 < j3. Negatives: j1 4, j2 5, j3 5, j4 5. Positives: j1 twice
// (beats 5, ties 4: 7 each), j2 (beats 9, ties 5: 11.5), j3 (beats 14, ties 5: 16.5), j4 (ties
// 5: 2.5): 44.5 / 95.
const RECENCY_AUC = 44.5 / 95;

describe("npm run eval as a person runs it (real PostgreSQL, real sidecar)", { timeout: 180_000 }, () => {
  let pg: TestDatabase;
  let db: Db;
  let sidecar: SidecarProcess;
  let dir: string;
  let modelDir: string;
  let env: Record<string, string>;
  let dataset: string;
  let withSidecar: string[];
  const eval_ = (args: string[], onStderr?: (text: string, child: ChildProcess) => void) =>
    runEval(dir, env, args, onStderr);
  const runsOf = (source: string) =>
    db.evaluationRun.findMany({ where: { source }, orderBy: { createdAt: "asc" } });

  before(async () => {
    [pg, sidecar, dir] = await Promise.all([
      createTestDatabase(),
      startTestSidecar(),
      mkdtemp(join(tmpdir(), "brewgate-eval-cli-")),
    ]);
    db = createDb(pg.url);
    env = { DATABASE_URL: pg.url, DATA_DIR: join(dir, "data"), LOG_LEVEL: "silent" };
    // A model directory of this file's own, so its sidecar processes are told apart from others.
    modelDir = join(dir, "cli-model");
    await cp(testModel(), modelDir, { recursive: true });
    dataset = join(dir, "hand.jsonl");
    await writeFile(dataset, `${DATASET}\n`);
    withSidecar = ["--sidecar", sidecar.address, "--tokenizer", join(testModel(), "tokenizer.json")];
  });
  after(async () => {
    await db?.$disconnect();
    await sidecar?.stop();
    await pg?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("scores a dataset: table, JSON line, baselines worked by hand, report, kept run", async () => {
    const out = join(dir, "first.html");
    const r = await eval_([
      ...withSidecar,
      "--dataset",
      dataset,
      "--history-budgets",
      "0,full",
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    for (const key of ["auc", "ndcg_at_10", "log_loss", "ece"]) {
      assert.equal(typeof j[key], "number", `${key}: ${j[key]}`);
    }
    assert.deepEqual(Object.keys(j.baselines), ["random", "popularity", "recency", "oracle"]);
    for (const [name, m] of Object.entries(j.baselines)) {
      assert.equal(typeof m.auc, "number", name);
      assert.equal(typeof m.ndcg_at_10, "number", name);
    }
    assert.deepEqual(
      [j.source, j.lists, j.positions, j.positives, j.skipped_lists, j.report],
      ["dataset:hand.jsonl", 6, 24, 5, 0, out],
    );
    // The oracle ranks by the file's true P(APPLY); its AUC is the file's, pooled.
    const oracle = rocAuc(
      LISTS.flatMap((l) => l[5]),
      LISTS.flatMap((l) => l[4].map((o) => o === "APPLY")),
    );
    assert.ok(oracle !== null && Math.abs((j.baselines.oracle.auc as number) - oracle) < 1e-12);
    assert.ok(Math.abs((j.baselines.popularity.auc as number) - POPULARITY_AUC) < 1e-12);
    assert.ok(Math.abs((j.baselines.recency.auc as number) - RECENCY_AUC) < 1e-12);
    // The sweep: no history, then the task's budget, which is the headline result.
    assert.deepEqual(
      j.history_sweep.map((p) => [p.budget, p.history_used]),
      [
        [0, 0],
        // L1-L6 keep 1 (j2 on 03-02 is after L1), 1, 2, 1, 2 (j4 on 03-04 00:00), 3 entries.
        ["full", 10 / 6],
      ],
    );
    assert.equal(j.history_sweep[1].auc, j.auc);
    // The table a person reads.
    assert.match(r.stdout, /^ranker +AUC +NDCG@10 +recall@10 +log loss +ECE/m);
    assert.match(r.stdout, new RegExp(`^popularity +${POPULARITY_AUC.toFixed(4)} `, "m"));
    assert.match(r.stdout, /^model by history budget\n {2}0 .*\n {2}full /m);
    assert.match(r.stdout, /6 lists, 24 positions; outcomes: none 15, APPLY 5, VIEW 3, DISMISS 1/);
    // The report: self-contained.
    const html = await readFile(out, "utf8");
    assert.match(html, /<svg /);
    assert.doesNotMatch(html, /<script/i);
    // The run is kept with its metrics and that same report.
    const rows = await runsOf("dataset:hand.jsonl");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].id, j.run_id);
    assert.deepEqual([rows[0].taskName, rows[0].impressions, rows[0].positions], ["job_apply", 6, 24]);
    assert.equal(rows[0].report, html);
    const metrics = rows[0].metrics as { rankers: { name: string; auc: number }[]; historySweep: unknown[] };
    assert.deepEqual(
      metrics.rankers.map((m) => m.name),
      ["model", "random", "popularity", "recency", "oracle"],
    );
    assert.equal(metrics.rankers[0].auc, j.auc);
    assert.equal(metrics.historySweep.length, 2);

    // A second run: a second row, and its report lists both runs, this one first.
    const out2 = join(dir, "second.html");
    const r2 = await eval_([
      ...withSidecar,
      "--dataset",
      dataset,
      "--history-budgets",
      "none",
      "--k",
      "2",
      "--out",
      out2,
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const j2 = lastJson(r2.stdout);
    assert.deepEqual(j2.history_sweep, []);
    assert.equal(typeof j2.ndcg_at_2, "number");
    assert.equal(j2.ndcg_at_10, undefined);
    assert.doesNotMatch(r2.stdout, /model by history budget/);
    const both = await runsOf("dataset:hand.jsonl");
    assert.deepEqual(
      both.map((x) => x.id),
      [j.run_id, j2.run_id],
    );
    const rows2 = runRows(await readFile(out2, "utf8"));
    assert.deepEqual(
      rows2.map(([n, , source, current]) => [n, source, current]),
      [
        [2, "dataset:hand.jsonl", true],
        [1, "dataset:hand.jsonl", false],
      ],
    );
    // The earlier run as it was kept; this one as the report stamped it (the row's own time is
    // set by the database a moment later, when it is saved).
    assert.equal(rows2[1][1], both[0].createdAt.toISOString());
    const stamped = Date.parse(rows2[0][1] as string);
    assert.ok(stamped > both[0].createdAt.getTime() && stamped <= both[1].createdAt.getTime());
  });

  it("with --sidecar, reads the tokenizer and the model card (its prefix budget) from MODEL_DIR", async () => {
    // The sidecar's own checkpoint, with a card that says it was trained on short prefixes.
    const carded = join(dir, "carded-model");
    await cp(testModel(), carded, { recursive: true });
    const config = JSON.parse(await readFile(join(carded, "config.json"), "utf8"));
    await writeFile(
      join(carded, "config.json"),
      JSON.stringify({ ...config, brewgate_prefix_tokens: PREFIX_BUDGET }),
    );
    const run = (modelDir: string) =>
      runEval(dir, { ...env, MODEL_DIR: modelDir }, [
        "--sidecar",
        sidecar.address,
        "--dataset",
        dataset,
        "--history-budgets",
        "full",
        "--no-save",
      ]);
    const [plain, withCard] = await Promise.all([run(testModel()), run(carded)]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(withCard.code, 0, withCard.stderr);
    const used = (r: { stdout: string }) => lastJson(r.stdout).history_sweep[0].history_used as number;
    assert.equal(used(plain), 10 / 6);
    assert.ok(used(withCard) < used(plain), `history entries with the card's budget: ${used(withCard)}`);
  });

  it("starts its own sidecar on --model-dir and leaves none behind", async () => {
    const before = await db.evaluationRun.count();
    const r = await eval_([
      "--model-dir",
      modelDir,
      "--dataset",
      dataset,
      "--history-budgets",
      "0",
      "--no-save",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.model, basename(modelDir));
    assert.equal(j.run_id, null);
    assert.equal(j.history_sweep.length, 1);
    assert.match(r.stderr, /starting a sidecar on .*cli-model/);
    assert.match(r.stderr, /random weights/);
    // No --out: the report goes under DATA_DIR/eval.
    assert.ok((j.report as string).startsWith(join(dir, "data", "eval")));
    assert.ok(existsSync(j.report as string));
    assert.deepEqual(await processesWith(modelDir), []);
    assert.equal(await db.evaluationRun.count(), before);
  });

  it("replays the settled impressions of the database", async () => {
    const seeded = await seedDemoData(db, {
      members: 5,
      items: 20,
      interactions: 40,
      impressions: 12,
      shownPerImpression: 4,
    });
    assert.ok(seeded);
    // One shown an hour ago: its attribution window is still open, so it is not evaluated.
    await insertImpressions(db, [
      {
        id: "recent",
        requestId: "recent",
        memberId: "member-1",
        taskName: "job_apply",
        model: "m",
        promptVersion: "p",
        createdAt: new Date(Date.now() - 3_600_000),
        candidates: ["job-1", "job-2"].map((itemId, i) => ({
          itemId,
          rank: i + 1,
          score: 0.5,
          probabilities: {},
        })),
      },
    ]);
    const settled = new Date(Date.now() - WEEK);
    const impressions = await db.impression.count({ where: { createdAt: { lt: settled } } });
    const positions = await db.impressionItem.count({ where: { createdAt: { lt: settled } } });
    assert.deepEqual([impressions, positions], [12, 48]);

    const r = await eval_([...withSidecar, "--history-budgets", "none", "--limit", "20"]);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.deepEqual(
      [j.source, j.lists, j.positions, j.skipped_lists],
      ["impressions", impressions, positions, 0],
    );
    // Demo data is simulated: every shown position carries its true probabilities, so the oracle is scored.
    assert.deepEqual(Object.keys(j.baselines), ["random", "popularity", "recency", "oracle"]);
    const [row] = await runsOf("impressions");
    assert.equal(row.id, j.run_id);
    assert.equal(row.impressions, impressions);

    const limited = await eval_([...withSidecar, "--history-budgets", "none", "--limit", "5", "--no-save"]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.deepEqual([lastJson(limited.stdout).lists, lastJson(limited.stdout).positions], [5, 20]);
  });

  it("refuses bad input with a message that names what is wrong", async () => {
    const runsBefore = await db.evaluationRun.count();
    const unknown = await eval_(["--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--bogus/);
    assert.match(unknown.stderr, /npm run eval -- \[options\]/);
    assert.equal(unknown.stdout, "");

    const budgets = await eval_([...withSidecar, "--dataset", dataset, "--history-budgets", "0,lots"]);
    assert.equal(budgets.code, 2);
    assert.match(budgets.stderr, /--history-budgets takes tokens .* got 'lots'/);

    const bad = join(dir, "bad.jsonl");
    await writeFile(bad, `${DATASET.split("\n")[0]}\n{"id": "L2", "at": \n`);
    // With its own sidecar: the failure stops it too.
    const malformed = await eval_(["--model-dir", modelDir, "--dataset", bad]);
    assert.equal(malformed.code, 1, malformed.stderr);
    assert.match(malformed.stderr, new RegExp(`${bad.replace(/[.]/g, "\\.")}:2: not JSON`));
    assert.deepEqual(await processesWith(modelDir), []);

    const task = await eval_([...withSidecar, "--task", "nope"]);
    assert.equal(task.code, 1);
    assert.match(task.stderr, /'nope'/);

    const empty = await eval_([
      ...withSidecar,
      "--from",
      "2020-01-01T00:00:00Z",
      "--to",
      "2020-01-02T00:00:00Z",
    ]);
    assert.equal(empty.code, 1);
    assert.match(
      empty.stderr,
      /no labelled impressions of task 'job_apply' shown in \[2020-01-01T00:00:00\.000Z, 2020-01-02/,
    );
    assert.equal(await db.evaluationRun.count(), runsBefore);
  });

  it("stops promptly on SIGTERM, mid-run or while its sidecar starts, and takes its sidecar with it", async () => {
    // Enough lists to take many seconds one Score call at a time.
    const big = join(dir, "big.jsonl");
    const line = JSON.parse(DATASET.split("\n")[0]);
    const candidates = Array.from({ length: 16 }, (_, i) => ({
      item: { id: `b${i}`, title: `Platform Engineer ${i}` },
      outcome: i % 4 === 0 ? "APPLY" : null,
    }));
    await writeFile(
      big,
      `${Array.from({ length: 2000 }, (_, i) => JSON.stringify({ ...line, id: `big-${i}`, candidates })).join("\n")}\n`,
    );
    const runsBefore = await db.evaluationRun.count();
    const out = join(dir, "big.html");
    let signalled = 0;
    const midRun = await eval_(
      [
        "--model-dir",
        modelDir,
        "--dataset",
        big,
        "--concurrency",
        "1",
        "--history-budgets",
        "none",
        "--out",
        out,
      ],
      (text, child) => {
        if (!signalled && /model: 50\/2000 lists/.test(text)) {
          signalled = Date.now();
          child.kill("SIGTERM");
        }
      },
    );
    assert.ok(signalled > 0, `never got under way: ${midRun.stderr}`);
    assert.equal(midRun.code, 130, midRun.stderr);
    assert.ok(Date.now() - signalled < 10_000, `took ${Date.now() - signalled} ms to stop`);
    assert.match(midRun.stderr, /eval: stopping/);
    assert.doesNotMatch(midRun.stdout, /report:/);
    assert.ok(!existsSync(out));
    assert.deepEqual(await processesWith(modelDir), []);

    // A signal while the sidecar it started is still loading.
    signalled = 0;
    const starting = await eval_(["--model-dir", modelDir, "--dataset", big, "--out", out], (text, child) => {
      if (!signalled && /starting a sidecar on/.test(text)) {
        signalled = Date.now();
        child.kill("SIGTERM");
      }
    });
    assert.ok(signalled > 0, starting.stderr);
    assert.equal(starting.code, 130, starting.stderr);
    assert.ok(Date.now() - signalled < 10_000, `took ${Date.now() - signalled} ms to stop`);
    assert.deepEqual(await processesWith(modelDir), []);
    assert.equal(await db.evaluationRun.count(), runsBefore);
  });
});
