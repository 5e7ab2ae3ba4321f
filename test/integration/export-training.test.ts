import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { seedDemoData } from "../../dev/demo-seed";
import { createDb, type Db, sql } from "../../src/db/client";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { ANSWER_STEM } from "../../src/prompt/template";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { REPO_ROOT, testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const run = promisify(execFile);
const CLI = join(REPO_ROOT, "dist", "scripts", "export-training.js");

interface Example {
  split: string;
  impressionId: string;
  memberId: string;
  itemId: string;
  shownAt: string;
  prompt: string;
  completion: string | null;
  action: string | null;
  positive: boolean;
  historyAvailable: number;
}

async function readLines(file: string): Promise<Example[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}

describe("npm run export:training (the CLI, real PostgreSQL)", { timeout: 180_000 }, () => {
  let pg: TestDatabase;
  let db: Db;
  let out: string;
  let stdout: string;
  const splits: Record<string, Example[]> = {};

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
    out = await mkdtemp(join(tmpdir(), "brewgate-export-"));
    const res = await run(
      process.execPath,
      [CLI, "--model-dir", testModel(), "--split", "0.6,0.2,0.2", "--out", out],
      {
        env: { ...process.env, DATABASE_URL: pg.url, ATTRIBUTION_WINDOW_MS: String(3_600_000) },
        timeout: 120_000,
      },
    );
    stdout = res.stdout;
    for (const name of ["train", "validation", "test"])
      splits[name] = await readLines(join(out, `${name}.jsonl`));
  });

  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("writes three non-empty splits and a manifest, and ends with a JSON line of the counts", async () => {
    const summary = JSON.parse(stdout.trim().split("\n").at(-1) as string);
    const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
    for (const name of ["train", "validation", "test"]) {
      assert.ok(splits[name].length > 0, `${name} is empty`);
      assert.equal(summary[name].examples, splits[name].length);
      assert.equal(manifest.counts[name].examples, splits[name].length);
    }
    // Every settled impression is in a split or counted in a gap.
    const impressions = new Set(Object.values(splits).flatMap((xs) => xs.map((e) => e.impressionId)));
    assert.equal(impressions.size + summary.in_gap, 40);
  });

  it("each line is a 360Brew prompt ending in the answer stem, and the answer the member gave", () => {
    const answers = new Map(JOB_APPLY_TASK.actions.map((a) => [a.action, a]));
    for (const e of Object.values(splits).flat()) {
      assert.ok(e.prompt.startsWith(`Instruction: ${JOB_APPLY_TASK.instruction}`));
      assert.ok(e.prompt.endsWith(ANSWER_STEM), e.prompt.slice(-60));
      assert.match(e.prompt, /Question: Will the member apply to the following job: \[Title: /);
      const a = e.action ? answers.get(e.action) : undefined;
      assert.equal(e.completion, a ? ` ${a.answer}` : null);
      assert.equal(e.positive, a?.positive ?? false);
    }
    const all = Object.values(splits).flat();
    assert.ok(all.some((e) => e.completion === " apply"));
    assert.ok(all.some((e) => e.completion === null));
  });

  it("writes each impression once as token ids, as the gateway tokenizes its prompt", async () => {
    const tk = await TextTokenizer.fromFile(join(testModel(), "tokenizer.json"));
    for (const name of ["train", "validation", "test"]) {
      const impressions = (await readFile(join(out, `${name}.ids.jsonl`), "utf8"))
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l));
      const byImpression = new Map<string, Example[]>();
      for (const e of splits[name])
        byImpression.set(e.impressionId, [...(byImpression.get(e.impressionId) ?? []), e]);
      assert.deepEqual(
        impressions.map((i) => i.impressionId),
        [...byImpression.keys()],
      );
      for (const imp of impressions) {
        const examples = byImpression.get(imp.impressionId) ?? [];
        assert.deepEqual(imp.prefixIds, [...tk.leadingSpecialIds, ...(await tk.encode(imp.prefix))]);
        assert.deepEqual(
          imp.labels.map((l: { action: string; completion: string }) => [l.action, l.completion]),
          JOB_APPLY_TASK.actions.map((a) => [a.action, ` ${a.answer}`]),
        );
        for (const l of imp.labels) assert.deepEqual(l.ids, await tk.encode(l.completion));
        assert.equal(imp.candidates.length, examples.length);
        imp.candidates.forEach(
          (c: { itemId: string; suffix: string; answer: number | null; positive: boolean }, i: number) => {
            const e = examples[i];
            assert.equal(c.itemId, e.itemId);
            assert.equal(`${imp.prefix}${c.suffix}`, e.prompt);
            assert.equal(c.answer === null ? null : imp.labels[c.answer].completion, e.completion);
            assert.equal(c.positive, e.positive);
          },
        );
        for (const c of imp.candidates) assert.deepEqual(c.suffixIds, await tk.encode(c.suffix));
      }
    }
  });

  it("splits by time: every train impression precedes every validation one, which precede test", () => {
    const times = (name: string) => splits[name].map((e) => Date.parse(e.shownAt));
    assert.ok(Math.max(...times("train")) < Math.min(...times("validation")));
    assert.ok(Math.max(...times("validation")) < Math.min(...times("test")));
  });

  it("no prompt holds history from after its impression (counted against the database)", async () => {
    const actions = JOB_APPLY_TASK.actions.map((a) => a.action);
    for (const e of Object.values(splits).flat()) {
      const [row] = await sql<{ n: number }>(
        db,
        `SELECT count(*)::int AS n FROM "Interaction"
         WHERE "memberId" = $1 AND "action" = ANY($2::text[])
           AND "occurredAt" < ($3::timestamptz AT TIME ZONE 'UTC')`,
        [e.memberId, actions, e.shownAt],
      );
      assert.equal(
        e.historyAvailable,
        Math.min(row.n, JOB_APPLY_TASK.historyPolicy.maxItems),
        e.impressionId,
      );
    }
    // The check has teeth: members did act after some of their impressions.
    const [later] = await sql<{ n: number }>(
      db,
      `SELECT count(*)::int AS n FROM "Interaction" i JOIN "Impression" imp ON imp."memberId" = i."memberId"
       WHERE i."occurredAt" > imp."createdAt"`,
      [],
    );
    assert.ok(later.n > 0);
  });

  it("--gap-ms sets the gap: none at 0, so every settled impression lands in a split", async () => {
    const gapless = await mkdtemp(join(tmpdir(), "brewgate-export-"));
    try {
      const res = await run(
        process.execPath,
        [CLI, "--model-dir", testModel(), "--split", "0.6,0.2,0.2", "--gap-ms", "0", "--out", gapless],
        {
          env: { ...process.env, DATABASE_URL: pg.url, ATTRIBUTION_WINDOW_MS: String(3_600_000) },
          timeout: 120_000,
        },
      );
      const summary = JSON.parse(res.stdout.trim().split("\n").at(-1) as string);
      const manifest = JSON.parse(await readFile(join(gapless, "manifest.json"), "utf8"));
      assert.equal(summary.in_gap, 0);
      assert.equal(manifest.split.gapMs, 0);
      const withGap = JSON.parse(stdout.trim().split("\n").at(-1) as string);
      const total = (x: Record<string, { impressions: number }>) =>
        x.train.impressions + x.validation.impressions + x.test.impressions;
      assert.equal(total(summary), total(withGap) + withGap.in_gap);
    } finally {
      await rm(gapless, { recursive: true, force: true });
    }
  });

  it("refuses a bad --split with the usage and status 2", async () => {
    await assert.rejects(
      run(process.execPath, [CLI, "--split", "0.5,0.5,0.5"], {
        env: { ...process.env, DATABASE_URL: pg.url },
      }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /--split takes three fractions that add up to 1/);
        return true;
      },
    );
  });
});
