import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createDb, type Db } from "../../src/db/client";
import { insertImpressions } from "../../src/db/impressions";
import { insertInteractions } from "../../src/db/interactions";
import { ensureDefaultTasks } from "../../src/db/tasks";
import { JOB_APPLY_TASK, type TaskDefinition } from "../../src/domain/task-definition";
import { datasetSource } from "../../src/evaluation/dataset-source";
import { impressionSource } from "../../src/evaluation/impression-source";
import type { EvalList } from "../../src/evaluation/lists";
import { TextTokenizer } from "../../src/prompt/tokenizer";
import { preparePrompt } from "../../src/ranking/prompts";
import { testModel } from "../support/models";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
// The impression a month ago (to the millisecond): old enough that a lookback counted from now
// would not reach back to it, recent enough to be a realistic replay.
const T = Math.floor((Date.now() - 30 * DAY) / 1000) * 1000;
const MAX_PREFIX = 4096;
const MAX_CONTEXT = 4096;

const interaction = (
  eventId: string,
  memberId: string,
  itemId: string,
  action: string,
  at: number,
  impressionId?: string,
) => ({ eventId, memberId, itemId, action, occurredAt: new Date(at), impressionId });

/** The history part of a prefix: what the member did, by title. */
const titlesIn = (prefix: string) =>
  ["Alpha", "Beta", "Gamma", "Exact"].filter((t) => prefix.includes(`${t} job`));

describe("offline evaluation replays impressions as of their time (real PostgreSQL, real tokenizer)", {
  timeout: 120_000,
}, () => {
  let pg: TestDatabase;
  let db: Db;
  let tk: TextTokenizer;
  let dir: string;
  const source = (task: TaskDefinition = JOB_APPLY_TASK) =>
    impressionSource({
      db,
      tokenizer: tk,
      task,
      from: new Date(T - HOUR),
      to: new Date(T + HOUR),
      attributionWindowMs: WEEK,
      maxPrefixTokens: MAX_PREFIX,
      maxContextTokens: MAX_CONTEXT,
      limit: 100,
    });

  before(async () => {
    [pg, tk, dir] = await Promise.all([
      createTestDatabase(),
      TextTokenizer.fromFile(join(testModel(), "tokenizer.json")),
      mkdtemp(join(tmpdir(), "brewgate-eval-leak-")),
    ]);
    db = createDb(pg.url);
    await ensureDefaultTasks(db);
    await db.member.createMany({
      data: [
        { id: "m1", currentPosition: "software engineer", location: "Lisbon" },
        { id: "m2", currentPosition: "data engineer" },
      ],
    });
    const job = (id: string, title: string) => ({ id, type: "JOB", title, company: "Acme" });
    await db.item.createMany({
      data: [
        job("alpha", "Alpha job"),
        job("beta", "Beta job"),
        job("gamma", "Gamma job"),
        job("exact", "Exact job"),
        job("c1", "Candidate one"),
        job("c2", "Candidate two"),
      ],
    });
    await insertInteractions(db, [
      // m1's own history: Gamma 10 days before T, Alpha the day before, Exact at T itself, Beta after.
      interaction("gamma", "m1", "gamma", "APPLY", T - 10 * DAY),
      interaction("alpha", "m1", "alpha", "APPLY", T - DAY),
      interaction("exact", "m1", "exact", "VIEW", T),
      interaction("beta", "m1", "beta", "APPLY", T + HOUR),
      // Anyone's interactions with the candidates: c1 twice before T, once at T, twice after it (one of
      // them the outcome, which names the impression, eight days later: past the window, still
      // the impression's); c2 only after T.
      interaction("c1-before-1", "m2", "c1", "VIEW", T - 2 * DAY),
      interaction("c1-before-2", "m2", "c1", "APPLY", T - 1000),
      interaction("c1-at", "m2", "c1", "VIEW", T),
      interaction("c1-after", "m2", "c1", "VIEW", T + DAY),
      interaction("c1-outcome", "m1", "c1", "APPLY", T + 8 * DAY, "imp-1"),
      interaction("c2-after", "m2", "c2", "APPLY", T + HOUR),
    ]);
    await insertImpressions(db, [
      {
        id: "imp-1",
        requestId: "req-1",
        memberId: "m1",
        taskName: JOB_APPLY_TASK.name,
        model: "test-model",
        promptVersion: "test",
        createdAt: new Date(T),
        candidates: ["c1", "c2"].map((itemId, i) => ({ itemId, rank: i + 1, score: 0.5, probabilities: {} })),
      },
      // Outside the window.
      {
        id: "imp-outside",
        requestId: "req-2",
        memberId: "m1",
        taskName: JOB_APPLY_TASK.name,
        model: "test-model",
        promptVersion: "test",
        createdAt: new Date(T + 2 * HOUR),
        candidates: [{ itemId: "c2", rank: 1, score: 0.5, probabilities: {} }],
      },
    ]);
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("builds the prompt with history from before the impression only; the served path now has it all", async () => {
    const s = await source();
    assert.deepEqual(
      s.lists.map((l) => [l.id, l.memberId, l.at.getTime()]),
      [["imp-1", "m1", T]],
    );
    const replayed = await s.prompt(s.lists[0]);
    // Beta came after the impression; Exact at its very time: neither was known when it was shown.
    assert.deepEqual(titlesIn(replayed.prefixText), ["Alpha", "Gamma"]);
    assert.equal(replayed.historyUsed, 2);
    assert.deepEqual(
      replayed.candidates.map((c) => c.id),
      ["c1", "c2"],
    );

    const now = await preparePrompt(db, tk, MAX_PREFIX, {
      memberId: "m1",
      taskName: JOB_APPLY_TASK.name,
      candidateIds: ["c1", "c2"],
      maxContextTokens: MAX_CONTEXT,
    });
    // Served now, the same member's history holds every interaction, the outcome with c1 included.
    assert.deepEqual(titlesIn(now.prompt.prefixText), ["Alpha", "Beta", "Gamma", "Exact"]);
    assert.ok(now.prompt.prefixText.includes("Candidate one"));
    assert.ok(!replayed.prefixText.includes("Candidate one"));
  });

  it("counts a task's lookback back from the impression's time, not from now", async () => {
    const task: TaskDefinition = { ...JOB_APPLY_TASK, historyPolicy: { maxItems: 100, lookbackDays: 7 } };
    const s = await source(task);
    // Alpha (T - 1 day) is inside T's week though a month older than now's; Gamma (T - 10 days) is not.
    assert.deepEqual(titlesIn((await s.prompt(s.lists[0])).prefixText), ["Alpha"]);
    // The served path counts from now: none of them is within the week.
    const now = await preparePrompt(db, tk, MAX_PREFIX, {
      memberId: "m1",
      taskName: task.name,
      task,
      candidateIds: ["c1", "c2"],
      maxContextTokens: MAX_CONTEXT,
    });
    assert.deepEqual(titlesIn(now.prompt.prefixText), []);
    // With no history budget the replayed prefix keeps nothing.
    const none = await s.prompt(s.lists[0], 0);
    assert.equal(none.historyUsed, 0);
    assert.deepEqual(titlesIn(none.prefixText), []);
  });

  it("counts popularity from anyone's interactions before the impression only", async () => {
    const s = await source();
    const counts = await s.popularity(s.lists[0]);
    // c1: the two before T (not the one at T, the one after, nor the outcome); c2: none before T.
    assert.equal(counts.get("c1"), 2);
    assert.equal(counts.get("c2") ?? 0, 0);
  });

  it("joins each shown position to its outcome: named interaction, else nothing", async () => {
    const s = await source();
    assert.deepEqual(
      s.lists[0].candidates.map((c) => [c.itemId, c.outcome]),
      [
        ["c1", "APPLY"],
        ["c2", null],
      ],
    );
    assert.equal(s.name, "impressions");
    assert.equal(s.dataFrom?.getTime(), T - HOUR);
    assert.equal(s.dataTo?.getTime(), T + HOUR);
  });

  it("drops a dataset's history at or after the list's time", async () => {
    const at = "2026-03-01T09:00:00.000Z";
    const path = join(dir, "future.jsonl");
    const entry = (title: string, occurredAt: string) => ({
      action: "APPLY",
      occurredAt,
      item: { id: title.toLowerCase().replace(" ", "-"), title },
    });
    await writeFile(
      path,
      `${JSON.stringify({
        id: "l1",
        at,
        member: { id: "m1", currentPosition: "software engineer" },
        history: [
          entry("Alpha job", "2026-02-28T09:00:00Z"),
          entry("Exact job", at),
          entry("Beta job", "2026-03-01T10:00:00+00:00"),
          entry("Gamma job", "2026-02-01T09:00:00Z"),
        ],
        candidates: [
          { item: { id: "c1", title: "Candidate one" }, outcome: "APPLY" },
          { item: { id: "c2", title: "Candidate two" }, outcome: null },
        ],
      })}\n`,
    );
    const opts = { tokenizer: tk, maxPrefixTokens: MAX_PREFIX, maxContextTokens: MAX_CONTEXT };
    const s = await datasetSource(path, { ...opts, task: JOB_APPLY_TASK });
    const list = s.lists[0] as EvalList;
    const p = await s.prompt(list);
    assert.deepEqual(titlesIn(p.prefixText), ["Alpha", "Gamma"]);
    assert.equal(p.historyUsed, 2);
    // Newest first, as the database path orders it.
    assert.ok(p.prefixText.indexOf("Alpha job") < p.prefixText.indexOf("Gamma job"));
    // The task's lookback, counted back from the list's time.
    const week = await datasetSource(path, {
      ...opts,
      task: { ...JOB_APPLY_TASK, historyPolicy: { maxItems: 100, lookbackDays: 7 } },
    });
    assert.deepEqual(titlesIn((await week.prompt(week.lists[0])).prefixText), ["Alpha"]);
  });
});
