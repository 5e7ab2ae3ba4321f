import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createDb, sql } from "../../src/db/client";
import { startEmbeddedDb } from "../../src/db/embedded";
import { REPO_ROOT } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const run = promisify(execFile);
const CLI = join(REPO_ROOT, "dist", "scripts", "simulate.js");
const SIZE = [
  ...["--members", "6", "--jobs", "30", "--background", "40", "--impressions", "20"],
  ...["--save-impressions", "12", "--shown", "4"],
];

/** The CLI's env without a DATABASE_URL the test runner may have. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { DATABASE_URL: _, ...rest } = process.env;
  return { ...rest, ...extra };
}

type Result = { code: number; stdout: string; stderr: string };
async function simulate(args: string[], extra: Record<string, string>, size = SIZE): Promise<Result> {
  try {
    const r = await run(process.execPath, [CLI, ...size, ...args], { env: env(extra), timeout: 120_000 });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) as string);

describe("npm run simulate (the CLI)", { timeout: 180_000 }, () => {
  let pg: TestDatabase;
  let dataDir: string;
  before(async () => {
    pg = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), "brewgate-simulate-"));
  });
  after(async () => {
    await pg?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("prints the same world for the same seed, with the oracle above the profile-only ranker", async () => {
    const a = await simulate([], {});
    const b = await simulate([], {});
    assert.equal(a.code, 0, a.stderr);
    const ja = lastJson(a.stdout);
    const jb = lastJson(b.stdout);
    assert.equal(ja.impressions, 20);
    assert.equal(ja.positions, 80);
    assert.deepEqual({ ...ja, seconds: 0 }, { ...jb, seconds: 0 });
    assert.ok(ja.auc.oracle > ja.auc.profileOnly, JSON.stringify(ja.auc));
    assert.match(a.stdout, /profile-only oracle/);
    // Each task summarized on its own impressions; job_apply's (at the top too) the same without job_save.
    const { tasks, seed: _seed, seconds: _seconds, ...top } = ja;
    assert.deepEqual(top, tasks.job_apply);
    assert.equal(ja.tasks.job_save.impressions, 12);
    assert.equal(ja.tasks.job_save.positions, 48);
    assert.deepEqual(Object.keys(ja.tasks.job_save.answers), ["SAVE", "VIEW", "DISMISS"]);
    assert.match(a.stdout, /^12 job_save impressions, 48 shown positions/m);
    const alone = await simulate(["--save-impressions", "0"], {});
    assert.equal(alone.code, 0, alone.stderr);
    const j0 = lastJson(alone.stdout);
    assert.equal(j0.tasks.job_save.impressions, 0);
    assert.deepEqual(j0.answers, ja.answers);
    assert.equal(j0.auc.oracle, ja.auc.oracle);
    assert.doesNotMatch(
      alone.stdout.slice(0, alone.stdout.indexOf("\n{")),
      /job_save/,
      "a task with no impressions is not printed",
    );
  });

  it("prints both tasks of the demo data by default: job_save's oracle well above popularity", async () => {
    const r = await simulate([], {}, []);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.tasks.job_apply.impressions, 360);
    assert.equal(j.tasks.job_save.impressions, 240);
    assert.equal(j.tasks.job_save.positions, 2400);
    const { oracle, popularity } = j.tasks.job_save.auc;
    assert.ok(oracle > popularity + 0.2, JSON.stringify(j.tasks.job_save.auc));
    assert.match(r.stdout, /job_save AUC of P\(SAVE\)/);
  });

  it("--write stores it through DATABASE_URL with each position's truth, and only into an empty database", async () => {
    const first = await simulate(["--write"], { DATABASE_URL: pg.url });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(lastJson(first.stdout).written, true);
    const db = createDb(pg.url, { max: 1 });
    try {
      const [row] = await sql<{ impressions: number; saves: number; truths: number }>(
        db,
        `SELECT (SELECT count(*)::int FROM "Impression") AS impressions,
                (SELECT count(*)::int FROM "Impression" WHERE "taskName" = 'job_save') AS saves,
                (SELECT count(*)::int FROM "ImpressionItem" WHERE "trueProbabilities" IS NOT NULL) AS truths`,
        [],
      );
      assert.deepEqual(row, { impressions: 32, saves: 12, truths: 128 });
    } finally {
      await db.$disconnect();
    }
    const again = await simulate(["--write"], { DATABASE_URL: pg.url });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /has members: nothing written/);
  });

  it("without DATABASE_URL, writes into a running gateway's embedded database, else opens the one under DATA_DIR", async () => {
    const port = String(55_000 + Math.floor(Math.random() * 5_000));
    const embedded = await startEmbeddedDb(dataDir, Number(port));
    let served: Result;
    try {
      served = await simulate(["--write"], { DATA_DIR: dataDir, EMBEDDED_DB_PORT: port });
    } finally {
      await embedded.stop();
    }
    assert.equal(served.code, 0, served.stderr);
    assert.match(served.stderr, new RegExp(`running gateway's embedded database \\(port ${port}\\)`));
    // Nothing answers on the port now: the command opens the same files itself and finds them full.
    const opened = await simulate(["--write"], { DATA_DIR: dataDir, EMBEDDED_DB_PORT: port });
    assert.equal(opened.code, 1, opened.stderr);
    assert.match(opened.stderr, /embedded database in .*pglite has members: nothing written/);
  });
});
