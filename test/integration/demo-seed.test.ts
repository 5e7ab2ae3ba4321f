import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DEMO_COUNTS,
  DEMO_LOGGING_MODEL,
  type DemoSeedReport,
  demoAffinity,
  demoOutcomeProbabilities,
  seedDemoData,
} from "../../dev/demo-seed";
import { createDb, type Db, sql } from "../../src/db/client";
import { insertImpressions } from "../../src/db/impressions";
import { outcomesOf, type PositionOutcome } from "../../src/db/outcomes";
import type { ImpressionRecord } from "../../src/domain/impression";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { promptVersion } from "../../src/prompt/version";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const WEEK = 7 * 86_400_000;

/** Every row the seed writes, in a fixed order, as text: equal data, equal snapshot. */
async function snapshot(db: Db): Promise<string[]> {
  const tables = {
    Member: `SELECT "id", "currentPosition", "currentCompany", "location", "skills", "yearsOfExperience", "summary" FROM "Member" ORDER BY "id"`,
    Item: `SELECT "id", "type", "title", "company", "location", "country", "description", "attributes", "createdAt" FROM "Item" ORDER BY "id"`,
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

describe("demo data: impressions and outcomes drawn from a known preference rule (real PostgreSQL)", {
  timeout: 120_000,
}, () => {
  let pg: TestDatabase;
  let db: Db;
  let report: DemoSeedReport | null;
  let outcomes: PositionOutcome[];
  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url);
    // No ensureDefaultTasks here: the seed must make the job_apply row its impressions refer to.
    report = await seedDemoData(db);
    const ids = (await db.impression.findMany({ select: { id: true } })).map((i) => i.id);
    outcomes = await outcomesOf(db, ids, WEEK);
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
  });

  it("writes the configured counts, impressions of job_apply by the logging policy", async () => {
    assert.ok(report);
    const { outcomes: mix, ...rows } = report;
    const { APPLY, VIEW, DISMISS } = mix;
    assert.deepEqual(rows, {
      members: 25,
      items: 150,
      interactions: 400,
      impressions: 300,
      shownPositions: 3000,
    });
    assert.equal(await db.member.count(), DEMO_COUNTS.members);
    assert.equal(await db.item.count(), DEMO_COUNTS.items);
    assert.equal(await db.impression.count(), DEMO_COUNTS.impressions);
    assert.equal(await db.impressionItem.count(), DEMO_COUNTS.impressions * DEMO_COUNTS.shownPerImpression);
    assert.equal(await db.interaction.count(), DEMO_COUNTS.interactions + APPLY + VIEW + DISMISS);
    assert.equal(
      await db.interaction.count({ where: { eventId: { startsWith: "demo-out-" } } }),
      APPLY + VIEW + DISMISS,
    );

    const impressions = await db.impression.findMany({ orderBy: { createdAt: "asc" } });
    const version = promptVersion(JOB_APPLY_TASK);
    for (const imp of impressions) {
      assert.equal(imp.taskName, "job_apply");
      assert.equal(imp.model, DEMO_LOGGING_MODEL);
      assert.equal(imp.promptVersion, version);
      const shown = imp.candidates as ImpressionRecord["candidates"];
      assert.deepEqual(
        shown.map((c) => c.rank),
        Array.from({ length: DEMO_COUNTS.shownPerImpression }, (_, k) => k + 1),
      );
      assert.equal(new Set(shown.map((c) => c.itemId)).size, shown.length, `${imp.id} repeats a job`);
      for (const c of shown)
        assert.deepEqual(Object.keys(c.probabilities).sort(), ["APPLY", "DISMISS", "VIEW"]);
    }
    assert.deepEqual(
      impressions.map((i) => i.id),
      impressions.map((_, n) => `demo-imp-${n + 1}`),
      "ids are numbered in time order",
    );
  });

  it("writes the ImpressionItem rows insertImpressions would write for the same impressions", async () => {
    const positions = async () =>
      (await db.impressionItem.findMany({ orderBy: [{ impressionId: "asc" }, { rank: "asc" }] })).map(
        (p) => `${p.impressionId}/${p.rank}/${p.itemId}/${p.memberId}/${p.createdAt.toISOString()}`,
      );
    const seeded = await positions();
    const records: ImpressionRecord[] = (await db.impression.findMany()).map((i) => ({
      ...i,
      candidates: i.candidates as ImpressionRecord["candidates"],
    }));
    // Rewritten by the production path (deleting an impression deletes its positions).
    await db.impression.deleteMany({});
    await insertImpressions(db, records);
    assert.deepEqual(await positions(), seeded);
  });

  it("writes nothing into a database that has members", async () => {
    const before = await snapshot(db);
    assert.equal(await seedDemoData(db), null);
    assert.deepEqual(await snapshot(db), before);
  });

  it("gives outcomesOf outcomes of both attributions, some positive and most not", () => {
    assert.equal(outcomes.length, 3000);
    const answered = outcomes.filter((o) => o.action !== null);
    const explicit = answered.filter((o) => o.attribution === "explicit").length;
    const window = answered.filter((o) => o.attribution === "window").length;
    const applied = outcomes.filter((o) => o.action === "APPLY").length;
    assert.ok(explicit > 0.3 * answered.length, `${explicit} of ${answered.length} named their impression`);
    assert.ok(window > 0.3 * answered.length, `${window} of ${answered.length} joined by the window`);
    assert.ok(applied > 0 && applied < outcomes.length, `${applied} of ${outcomes.length} applied`);
    // The seed's own answers are what joins (a background interaction may rarely come first).
    const own = answered.filter((o) => o.eventId === `demo-out-${o.impressionId.slice(9)}-${o.rank}`);
    assert.ok(own.length > 0.95 * answered.length, `${own.length} of ${answered.length} are the seed's own`);
    const total = report ? Object.values(report.outcomes).reduce((a, b) => a + b, 0) : 0;
    assert.ok(
      Math.abs(answered.length - total) <= 0.02 * total,
      `${answered.length} joined of ${total} written`,
    );
  });

  it("draws the outcomes from the rule: applied positions had a higher true P(APPLY)", async () => {
    const members = new Map((await db.member.findMany()).map((m) => [m.id, m]));
    const items = new Map((await db.item.findMany()).map((i) => [i.id, i]));
    const memberOf = new Map((await db.impression.findMany()).map((i) => [i.id, i.memberId]));
    const p = (o: PositionOutcome) => {
      const member = members.get(memberOf.get(o.impressionId) ?? "");
      const item = items.get(o.itemId);
      assert.ok(member && item);
      return demoOutcomeProbabilities(member, item).APPLY;
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const applied = mean(outcomes.filter((o) => o.action === "APPLY").map(p));
    const notApplied = mean(outcomes.filter((o) => o.action !== "APPLY").map(p));
    // Sampled independently of the rule, the two means would be about equal.
    assert.ok(
      applied > 1.5 * notApplied,
      `mean true P(APPLY): applied ${applied}, not applied ${notApplied}`,
    );

    // The background histories follow the rule too: applied jobs fit better than dismissed ones.
    const background = await db.interaction.findMany({
      where: {
        impressionId: null,
        eventId: { startsWith: "demo-" },
        NOT: { eventId: { startsWith: "demo-out-" } },
      },
    });
    assert.equal(background.length, DEMO_COUNTS.interactions);
    const affinity = (action: string) =>
      mean(
        background
          .filter((i) => i.action === action)
          .map((i) =>
            demoAffinity(members.get(i.memberId) ?? { skills: [] }, items.get(i.itemId) ?? { title: "" }),
          ),
      );
    assert.ok(
      affinity("APPLY") > affinity("DISMISS") + 0.4,
      `affinity: applied ${affinity("APPLY")}, dismissed ${affinity("DISMISS")}`,
    );
  });

  it("is deterministic: the rule gives fixed values, a second database gets identical rows", async () => {
    const member = {
      currentPosition: "software engineer",
      location: "Sunnyvale, California",
      skills: ["Go", "Python", "C++"],
      yearsOfExperience: 5,
    };
    const job = {
      title: "Software Engineer",
      location: "Sunnyvale, California",
      description: "Google is hiring a Software Engineer to build products with Go and C++.",
      attributes: { Seniority: "Mid-Senior level", Workplace: "Remote" },
    };
    // Title 1.5 + location 1 + Go 1 + C++ 1 ("Google" is not "Go") + seniority 0.5.
    assert.equal(demoAffinity(member, job), 5);
    const p = demoOutcomeProbabilities(member, job);
    const e = { APPLY: Math.exp(2), VIEW: Math.exp(1.5), DISMISS: Math.exp(-4.75), NONE: 1 };
    const z = e.APPLY + e.VIEW + e.DISMISS + e.NONE;
    for (const a of ["APPLY", "VIEW", "DISMISS", "NONE"] as const)
      assert.ok(Math.abs(p[a] - e[a] / z) < 1e-12, a);
    assert.equal(
      demoAffinity({ skills: [] }, { title: "Director of Sales", description: "Go to market." }),
      0,
    );

    const other = await createTestDatabase();
    const db2 = createDb(other.url);
    try {
      const second = await seedDemoData(db2);
      assert.deepEqual(second, report);
      // The first database's impressions were rewritten above, by the same rows.
      assert.deepEqual(await snapshot(db2), await snapshot(db));
    } finally {
      await db2.$disconnect();
      await other.drop();
    }
  });
});
