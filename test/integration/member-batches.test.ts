import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDb, type Db } from "../../src/db/client";
import { upsertMembers } from "../../src/db/members";
import { createTestDatabase, type TestDatabase } from "../support/postgres";

// The Kafka path writes a batch of member events in one statement; it must mean what writing
// them one by one means: fields left out kept, null cleared, later events over earlier ones.

describe("member batches (real PostgreSQL)", () => {
  let pg: TestDatabase;
  let db: Db;
  before(async () => {
    pg = await createTestDatabase();
    db = createDb(pg.url, { max: 2 });
  });
  after(async () => {
    await db?.$disconnect();
    await pg?.drop();
  });

  it("inserts new members, updates existing ones field by field, and folds repeats in order", async () => {
    await upsertMembers(db, [
      { id: "b1", currentPosition: "welder", location: "Gdansk", skills: ["TIG"], yearsOfExperience: 4 },
      { id: "b2", currentPosition: "designer", summary: "Draws." },
    ]);
    await upsertMembers(db, [
      // Left out: kept. null: cleared (skills to none).
      { id: "b1", currentPosition: "senior welder", location: null, skills: null },
      { id: "b2", summary: "Draws things." },
      { id: "b3" },
      // The same member twice in a batch: the later event's fields over the earlier one's.
      { id: "b4", currentPosition: "fitter", currentCompany: "Yard" },
      { id: "b4", currentPosition: "lead fitter", yearsOfExperience: 9 },
    ]);
    const rows = await db.member.findMany({ orderBy: { id: "asc" } });
    const view = rows.map(
      ({ id, currentPosition, currentCompany, location, summary, skills, yearsOfExperience }) => ({
        id,
        currentPosition,
        currentCompany,
        location,
        summary,
        skills,
        yearsOfExperience,
      }),
    );
    assert.deepEqual(view, [
      {
        id: "b1",
        currentPosition: "senior welder",
        currentCompany: null,
        location: null,
        summary: null,
        skills: [],
        yearsOfExperience: 4,
      },
      {
        id: "b2",
        currentPosition: "designer",
        currentCompany: null,
        location: null,
        summary: "Draws things.",
        skills: [],
        yearsOfExperience: null,
      },
      {
        id: "b3",
        currentPosition: null,
        currentCompany: null,
        location: null,
        summary: null,
        skills: [],
        yearsOfExperience: null,
      },
      {
        id: "b4",
        currentPosition: "lead fitter",
        currentCompany: "Yard",
        location: null,
        summary: null,
        skills: [],
        yearsOfExperience: 9,
      },
    ]);
    const b1 = rows[0];
    assert.ok(b1.updatedAt.getTime() >= b1.createdAt.getTime());
  });

  it("writes a batch of thousands, more than one transaction's chunk", async () => {
    const batch = Array.from({ length: 3000 }, (_, i) => ({ id: `many-${i}`, skills: [`s${i}`, "x"] }));
    await upsertMembers(db, batch);
    assert.equal(await db.member.count({ where: { id: { startsWith: "many-" } } }), 3000);
    const one = await db.member.findUniqueOrThrow({ where: { id: "many-2999" } });
    assert.deepEqual(one.skills, ["s2999", "x"]);
  });
});
