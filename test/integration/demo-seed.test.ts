import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DEMO_COUNTS,
  DEMO_LOGGING_MODEL,
  type DemoSeedReport,
  demoMarketplace,
  seedDemoData,
} from "../../dev/demo-seed";
import {
  type Marketplace,
  profileOnlyProbabilities,
  rocAuc,
  SIMULATED_JOB_APPLY,
  SIMULATED_JOB_SAVE,
  summarizeMarketplace,
  trueProbabilities,
} from "../../dev/marketplace";
import { createDb, type Db, sql } from "../../src/db/client";
import { insertImpressions } from "../../src/db/impressions";
import { upsertMembers } from "../../src/db/members";
import { outcomesOf, type PositionOutcome } from "../../src/db/outcomes";
import type { InteractionEvent } from "../../src/domain/events";
import type { ImpressionRecord } from "../../src/domain/impression";
import { JOB_APPLY_TASK, JOB_SAVE_TASK, type TaskDefinition } from "../../src/domain/task-definition";
import { impressionSource } from "../../src/evaluation/impression-source";
import type { EvalSource } from "../../src/evaluation/lists";
import { baselinesFor } from "../../src/evaluation/rankers";
import { InteractionWriter } from "../../src/ingest/interactions";
import type { TextTokenizer } from "../../src/prompt/tokenizer";
import { promptVersion } from "../../src/prompt/version";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const WEEK = 7 * 86_400_000;

/**
 * Every row the seed writes, in a fixed order, as text: equal data, equal snapshot. Item.createdAt
 * is left out: jobs come through the upsert path, which stamps the time they were written.
 */
async function snapshot(db: Db): Promise<string[]> {
  const tables = {
    Member: `SELECT "id", "currentPosition", "currentCompany", "location", "skills", "yearsOfExperience", "summary" FROM "Member" ORDER BY "id"`,
    Item: `SELECT "id", "type", "title", "company", "location", "country", "description", "attributes" FROM "Item" ORDER BY "id"`,
    Interaction: `SELECT "eventId", "memberId", "itemId", "action", "surface", "occurredAt", "impressionId" FROM "Interaction" ORDER BY "eventId"`,
    Impression: `SELECT "id", "requestId", "memberId", "taskName", "model", "promptVersion", "candidates", "createdAt" FROM "Impression" ORDER BY "id"`,
    ImpressionItem: `SELECT * FROM "ImpressionItem" ORDER BY "impressionId", "rank"`,
  };
  const out: string[] = [];
  for (const [table, query] of Object.entries(tables)) {
    for (const row of await sql(db, query, [])) out.push(`${table} ${JSON.stringify(row)}`);
  }
  return out;
}

/** The stored impressions of a task as `npm run eval` reads them (no prompt is built here). */
function source(
  db: Db,
  to = new Date(Date.now() - WEEK),
  task: TaskDefinition = JOB_APPLY_TASK,
): Promise<EvalSource> {
  return impressionSource({
    db,
    tokenizer: {} as TextTokenizer,
    task,
    from: new Date(0),
    to,
    attributionWindowMs: WEEK,
    maxPrefixTokens: 4096,
    limit: 100_000,
  });
}

/** Pooled AUC of a baseline's scores on the source's lists against the positive answer (applied). */
async function baselineAuc(src: EvalSource, name: string, positive = "APPLY"): Promise<number> {
  const baseline = baselinesFor(src, 1).find((b) => b.name === name);
  assert.ok(baseline, `no ${name} baseline`);
  const scores: number[] = [];
  const labels: boolean[] = [];
  for (const list of src.lists) {
    const s = await baseline.score(list);
    scores.push(...s.scores);
    labels.push(...list.candidates.map((c) => c.outcome === positive));
  }
  return rocAuc(scores, labels);
}

describe("demo data: a simulated marketplace with known truth, written through the product's paths (real PostgreSQL)", {
  timeout: 240_000,
}, () => {
  let pg: TestDatabase;
  let db: Db;
  let report: DemoSeedReport | null;
  let world: Marketplace;
  let outcomes: PositionOutcome[];
  const heard: InteractionEvent[] = [];
  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url);
    world = demoMarketplace();
    // No ensureDefaultTasks here: the seed must make the job_apply row its impressions refer to.
    const writer = new InteractionWriter(db, [(events) => void heard.push(...events)], (err) => {
      throw err;
    });
    report = await seedDemoData(db, DEMO_COUNTS, { writer });
    const ids = (await db.impression.findMany({ select: { id: true } })).map((i) => i.id);
    outcomes = await outcomesOf(db, ids, WEEK);
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
  });

  it("writes the configured counts, impressions of job_apply and job_save by the logging policy, interactions through InteractionWriter", async () => {
    assert.ok(report);
    const { outcomes: mix, ...rows } = report;
    const answered = mix.APPLY + mix.SAVE + mix.VIEW + mix.DISMISS;
    assert.deepEqual(rows, {
      members: 50,
      items: 300,
      interactions: 400,
      impressions: 600,
      impressionsByTask: { job_apply: 360, job_save: 240 },
      shownPositions: 6000,
    });
    // The demo data's size is chosen for its applications: enough that 0.05 of AUC is not noise.
    assert.ok(mix.APPLY > 400 && mix.APPLY < 650, `${mix.APPLY} applications`);
    assert.ok(mix.SAVE > 250 && mix.SAVE < 500, `${mix.SAVE} saves`);
    assert.equal(await db.member.count(), 50);
    assert.equal(await db.item.count(), 300);
    assert.equal(await db.impression.count(), 600);
    assert.equal(await db.impressionItem.count(), 6000);
    assert.deepEqual(await db.task.findMany({ select: { name: true }, orderBy: { name: "asc" } }), [
      { name: "job_apply" },
      { name: "job_save" },
    ]);
    assert.equal(await db.interaction.count(), 400 + answered);
    // Every interaction went through the store-and-announce path, each announced once.
    assert.equal(heard.length, 400 + answered);
    assert.equal(new Set(heard.map((e) => e.eventId)).size, heard.length);

    const impressions = await db.impression.findMany({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    const tasks = {
      job_apply: {
        version: promptVersion(JOB_APPLY_TASK),
        ids: "sim",
        actions: ["APPLY", "DISMISS", "VIEW"],
      },
      job_save: {
        version: promptVersion(JOB_SAVE_TASK),
        ids: "sim-save",
        actions: ["DISMISS", "SAVE", "VIEW"],
      },
    };
    assert.notEqual(tasks.job_apply.version, tasks.job_save.version);
    for (const imp of impressions) {
      const task = tasks[imp.taskName as keyof typeof tasks];
      assert.ok(task, `${imp.id} is of ${imp.taskName}`);
      assert.equal(imp.model, DEMO_LOGGING_MODEL);
      assert.equal(imp.promptVersion, task.version);
      const shown = imp.candidates as ImpressionRecord["candidates"];
      assert.deepEqual(
        shown.map((c) => c.rank),
        Array.from({ length: 10 }, (_, k) => k + 1),
      );
      assert.equal(new Set(shown.map((c) => c.itemId)).size, shown.length, `${imp.id} repeats a job`);
      for (const c of shown) assert.deepEqual(Object.keys(c.probabilities).sort(), task.actions);
    }
    for (const [name, { ids }] of Object.entries(tasks)) {
      const own = impressions.filter((i) => i.taskName === name);
      assert.deepEqual(
        own.map((i) => i.id),
        own.map((_, n) => `${ids}-imp-${n + 1}`),
        `${name}'s ids are numbered in time order`,
      );
    }
    // The two tasks' impressions are interleaved in time, not one block after the other.
    const firstSave = impressions.findIndex((i) => i.taskName === "job_save");
    const lastApply = impressions.findLastIndex((i) => i.taskName === "job_apply");
    assert.ok(firstSave >= 0 && firstSave < lastApply);
    // job_save's answers: saves, views and dismissals on the saved-jobs surface, as many as reported.
    const saveAnswers = await db.interaction.findMany({
      where: { eventId: { startsWith: "sim-save-out-" } },
    });
    assert.deepEqual(new Set(saveAnswers.map((a) => a.action)), new Set(["SAVE", "VIEW", "DISMISS"]));
    assert.ok(saveAnswers.every((a) => a.surface === "SAVED_JOBS"));
    assert.equal(saveAnswers.filter((a) => a.action === "SAVE").length, mix.SAVE);
    assert.equal(await db.interaction.count({ where: { action: "SAVE" } }), mix.SAVE);
  });

  it("records each shown position's true probabilities, the rule's, in the candidates and ImpressionItem", async () => {
    const members = new Map(world.members.map((m) => [m.profile.id, m]));
    const jobs = new Map(world.jobs.map((j) => [j.item.id, j]));
    const rows = await db.impressionItem.findMany({ include: { impression: true } });
    assert.equal(rows.length, 6000);
    for (const row of rows) {
      const member = members.get(row.memberId);
      const job = jobs.get(row.itemId);
      assert.ok(member && job);
      const task = row.impression.taskName === "job_save" ? SIMULATED_JOB_SAVE : SIMULATED_JOB_APPLY;
      const truth = trueProbabilities(task, member, job);
      assert.deepEqual(row.trueProbabilities, truth);
      const shown = (row.impression.candidates as ImpressionRecord["candidates"])[row.rank - 1];
      assert.deepEqual(shown.trueProbabilities, truth);
      const total = Object.values(truth).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-9, `${row.impressionId}/${row.rank} sums to ${total}`);
    }
  });

  it("gives outcomesOf outcomes of both attributions, the seed's own answers", () => {
    assert.equal(outcomes.length, 6000);
    const answered = outcomes.filter((o) => o.action !== null);
    const explicit = answered.filter((o) => o.attribution === "explicit").length;
    const window = answered.filter((o) => o.attribution === "window").length;
    assert.ok(explicit > 0.3 * answered.length, `${explicit} of ${answered.length} named their impression`);
    assert.ok(window > 0.3 * answered.length, `${window} of ${answered.length} joined by the window`);
    // sim-imp-<n> is answered by sim-out-<n>-<rank>, sim-save-imp-<n> by sim-save-out-<n>-<rank>.
    const own = answered.filter((o) => o.eventId === `${o.impressionId.replace("-imp-", "-out-")}-${o.rank}`);
    assert.ok(own.length > 0.95 * answered.length, `${own.length} of ${answered.length} are the seed's own`);
    const total = report ? Object.values(report.outcomes).reduce((a, b) => a + b, 0) : 0;
    assert.ok(
      Math.abs(answered.length - total) <= 0.02 * total,
      `${answered.length} joined of ${total} written`,
    );
  });

  it("is read back by offline evaluation with the truth: the oracle is scored, well above popularity", async () => {
    const src = await source(db);
    assert.equal(src.lists.length, 360);
    assert.ok(src.lists.every((l) => l.candidates.every((c) => c.trueProbabilities?.APPLY !== undefined)));
    assert.deepEqual(
      baselinesFor(src, 1).map((b) => b.name),
      ["random", "popularity", "recency", "oracle"],
    );
    const oracle = await baselineAuc(src, "oracle");
    const popularity = await baselineAuc(src, "popularity");
    assert.ok(oracle > 0.75, `oracle AUC ${oracle}`);
    assert.ok(oracle > popularity + 0.2, `oracle ${oracle}, popularity ${popularity}`);
  });

  it("reads job_save back for evaluation on its own: its answers, its truth, the oracle well above popularity", async () => {
    const src = await source(db, undefined, JOB_SAVE_TASK);
    assert.equal(src.lists.length, 240);
    assert.ok(src.lists.every((l) => l.id.startsWith("sim-save-imp-")));
    assert.ok(src.lists.every((l) => l.candidates.every((c) => c.trueProbabilities?.SAVE !== undefined)));
    const joined = src.lists.flatMap((l) => l.candidates.map((c) => c.outcome)).filter((o) => o);
    const ownAnswers = joined.filter((o) => o === "SAVE" || o === "VIEW" || o === "DISMISS");
    assert.ok(
      ownAnswers.length > 0.97 * joined.length,
      `${ownAnswers.length} of ${joined.length} are job_save's answers`,
    );
    const saves = joined.filter((o) => o === "SAVE").length;
    assert.ok(Math.abs(saves - (report?.outcomes.SAVE ?? 0)) <= 0.02 * saves, `${saves} saves joined`);
    const oracle = await baselineAuc(src, "oracle", "SAVE");
    const popularity = await baselineAuc(src, "popularity", "SAVE");
    assert.ok(oracle > 0.72, `oracle AUC ${oracle}`);
    assert.ok(oracle > popularity + 0.2, `oracle ${oracle}, popularity ${popularity}`);
    const summary = summarizeMarketplace(world, SIMULATED_JOB_SAVE);
    assert.equal(summary.impressions, 240);
    assert.equal(summary.positives, report?.outcomes.SAVE);
    assert.ok(Math.abs(summary.auc.oracle - oracle) < 0.01, `${summary.auc.oracle} vs ${oracle}`);
  });

  it("hides preferences that matter: the oracle beats the best profile-only ranker by a clear margin", async () => {
    // On the stored data, with the outcomes as evaluation joins them.
    const src = await source(db);
    const members = new Map(world.members.map((m) => [m.profile.id, m]));
    const jobs = new Map(world.jobs.map((j) => [j.item.id, j]));
    const full: number[] = [];
    const profile: number[] = [];
    const labels: boolean[] = [];
    for (const list of src.lists) {
      for (const c of list.candidates) {
        const member = members.get(list.memberId);
        const job = jobs.get(c.itemId);
        assert.ok(member && job && c.trueProbabilities);
        full.push(c.trueProbabilities.APPLY);
        profile.push(profileOnlyProbabilities(SIMULATED_JOB_APPLY, member.profile, job).APPLY);
        labels.push(c.outcome === "APPLY");
      }
    }
    const [fullAuc, profileAuc] = [rocAuc(full, labels), rocAuc(profile, labels)];
    assert.ok(fullAuc > profileAuc + 0.1, `oracle ${fullAuc}, profile-only ${profileAuc}`);
    assert.ok(profileAuc > 0.58, `profile-only ${profileAuc}: the profile says something too`);
    // The simulator's own summary says the same of the world it generated.
    const summary = summarizeMarketplace(world, SIMULATED_JOB_APPLY);
    assert.ok(Math.abs(summary.auc.oracle - fullAuc) < 0.01, `${summary.auc.oracle} vs ${fullAuc}`);
    assert.ok(
      Math.abs(summary.auc.profileOnly - profileAuc) < 0.01,
      `${summary.auc.profileOnly} vs ${profileAuc}`,
    );
    assert.equal(summary.positives, report?.outcomes.APPLY);
  });

  it("keeps served rankings without truth: no true probabilities, no oracle", async () => {
    const served: ImpressionRecord = {
      id: "served-1",
      requestId: "served-1",
      memberId: "member-1",
      taskName: "job_apply",
      model: "m",
      promptVersion: "p",
      createdAt: new Date(Date.UTC(2030, 0, 1)),
      candidates: ["job-1", "job-2"].map((itemId, k) => ({
        itemId,
        rank: k + 1,
        score: 0.5,
        probabilities: {},
      })),
    };
    await insertImpressions(db, [served]);
    try {
      const rows = await db.impressionItem.findMany({ where: { impressionId: "served-1" } });
      assert.deepEqual(
        rows.map((r) => r.trueProbabilities),
        [null, null],
      );
      const src = await source(db, new Date(Date.UTC(2031, 0, 1)));
      assert.equal(src.lists.length, 361);
      const last = src.lists.at(-1);
      assert.equal(last?.id, "served-1");
      assert.ok(last?.candidates.every((c) => c.trueProbabilities === undefined));
      assert.ok(!baselinesFor(src, 1).some((b) => b.name === "oracle"), "an oracle over lists without truth");
    } finally {
      await db.impression.delete({ where: { id: "served-1" } });
    }
  });

  it("writes nothing into a database that has members", async () => {
    const before = await snapshot(db);
    assert.equal(await seedDemoData(db), null);
    assert.deepEqual(await snapshot(db), before);
  });

  it("is deterministic, and completes a seeding interrupted before its impressions", async () => {
    const again = demoMarketplace();
    assert.deepEqual(again, world);
    assert.notDeepEqual(demoMarketplace({ ...DEMO_COUNTS, seed: 361 }).impressions, world.impressions);

    const other = await createTestDatabase();
    const db2 = createDb(other.url);
    try {
      // Interrupted after the members: the next start completes it, to the same rows.
      await upsertMembers(
        db2,
        world.members.slice(0, 10).map((m) => m.profile),
      );
      const second = await seedDemoData(db2);
      assert.deepEqual(second, report);
      assert.deepEqual(await snapshot(db2), await snapshot(db));
    } finally {
      await db2.$disconnect();
      await other.drop();
    }
  });
});
