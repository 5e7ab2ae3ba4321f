import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDb, type Db } from "../../src/db/client";
import { insertImpressions } from "../../src/db/impressions";
import { insertInteractions } from "../../src/db/interactions";
import { outcomesOf } from "../../src/db/outcomes";
import { ensureDefaultTasks } from "../../src/db/tasks";
import type { ImpressionRecord } from "../../src/domain/impression";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const MIN = 60_000;
const DAY = 86_400_000;

const impression = (id: string, at: number, itemIds: string[]): ImpressionRecord => ({
  id,
  requestId: `req-${id}`,
  memberId: "m1",
  taskName: "job_apply",
  model: "test-model",
  promptVersion: "test-prompt",
  createdAt: new Date(at),
  candidates: itemIds.map((itemId, i) => ({ itemId, rank: i + 1, score: 0.5, probabilities: {} })),
});

const interaction = (eventId: string, itemId: string, action: string, at: number, impressionId?: string) => ({
  eventId,
  memberId: "m1",
  itemId,
  action,
  occurredAt: new Date(at),
  impressionId,
});

describe("outcomes joined to impressions (real PostgreSQL)", () => {
  let pg: TestDatabase;
  let db: Db;
  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url);
    await ensureDefaultTasks(db);
    await db.member.create({ data: { id: "m1" } });
    await db.item.createMany({ data: ["j1", "j2", "j3"].map((id) => ({ id, type: "JOB", title: id })) });
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
  });

  it("stores one row per shown position, once, however often a batch is written", async () => {
    const batch = [impression("A", T0, ["j1", "j2", "j3"]), impression("B", T0 + 10 * MIN, ["j2"])];
    await insertImpressions(db, batch);
    await insertImpressions(db, batch);
    const rows = await db.impressionItem.findMany({ orderBy: [{ impressionId: "asc" }, { rank: "asc" }] });
    assert.deepEqual(
      rows.map((r) => `${r.impressionId}${r.rank}:${r.itemId}`),
      ["A1:j1", "A2:j2", "A3:j3", "B1:j2"],
    );
  });

  it("joins each position to what the member did by the documented rule", async () => {
    await insertInteractions(db, [
      // Before j1 was shown: no outcome of A.
      interaction("e0", "j1", "VIEW", T0 - MIN),
      // The first interaction with j1 in A's window, then a later one that does not replace it.
      interaction("e1", "j1", "APPLY", T0 + MIN),
      interaction("e5", "j1", "VIEW", T0 + 2 * MIN),
      // j2 was shown again by B at T0+10min: the latest impression wins.
      interaction("e2", "j2", "VIEW", T0 + 20 * MIN),
      // Outside the window: nothing for A's j3 ...
      interaction("e3", "j3", "VIEW", T0 + 2 * DAY),
      // ... but an interaction that names A belongs to it, whenever it happened.
      interaction("e4", "j3", "APPLY", T0 + 3 * DAY, "A"),
    ]);
    const outcomes = await outcomesOf(db, ["A", "B", "unknown"], DAY);
    assert.deepEqual(
      outcomes.map((o) => [o.impressionId, o.rank, o.itemId, o.action, o.eventId, o.attribution]),
      [
        ["A", 1, "j1", "APPLY", "e1", "window"],
        ["A", 2, "j2", null, null, null],
        ["A", 3, "j3", "APPLY", "e4", "explicit"],
        ["B", 1, "j2", "VIEW", "e2", "window"],
      ],
    );
    assert.equal(outcomes[0].occurredAt?.getTime(), T0 + MIN);
    // A shorter window: the view 20 minutes after B is no longer B's.
    const short = await outcomesOf(db, ["B"], 5 * MIN);
    assert.equal(short[0].eventId, null);
  });
});
