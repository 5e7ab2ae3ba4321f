import type { Member } from "@prisma/client";
import { DATABASE } from "../config/limits";
import type { MemberEvent } from "../domain/events";
import type { Db } from "./client";

// Fields left out of an event (undefined) are kept as they were; null clears them.
function upsertArgs(m: MemberEvent) {
  const fields = {
    currentPosition: m.currentPosition,
    currentCompany: m.currentCompany,
    location: m.location,
    yearsOfExperience: m.yearsOfExperience,
    summary: m.summary,
  };
  return {
    where: { id: m.id },
    create: { id: m.id, ...fields, skills: m.skills ?? [] },
    update: { ...fields, skills: m.skills === null ? [] : m.skills },
  };
}

export function upsertMember(db: Db, m: MemberEvent): Promise<Member> {
  return db.member.upsert(upsertArgs(m));
}

/**
 * Many members in one transaction (the Kafka path). An event with `updatedAt` is applied only
 * when it is not older than the one the row was last written from (`sourceUpdatedAt`), so a
 * late, older event never overwrites a newer one; events without it are applied as they come.
 */
export async function upsertMembers(db: Db, members: MemberEvent[]): Promise<void> {
  if (members.length === 0) return;
  if (members.length > DATABASE.upsertChunk) {
    // One transaction per chunk: each upsert is a round trip, and thousands in one transaction
    // outlast its deadline. Upserts are idempotent, so a batch cut short is simply written again.
    for (let from = 0; from < members.length; from += DATABASE.upsertChunk) {
      await upsertMembers(db, members.slice(from, from + DATABASE.upsertChunk));
    }
    return;
  }
  if (members.every((m) => !m.updatedAt)) {
    await upsertUnversioned(db, members);
    return;
  }
  await db.$transaction(
    async (tx) => {
      for (const m of members) {
        const args = upsertArgs(m);
        if (!m.updatedAt) {
          await tx.member.upsert(args);
          continue;
        }
        const version = { sourceUpdatedAt: m.updatedAt };
        const created = await tx.member.createMany({
          data: [{ ...args.create, ...version }],
          skipDuplicates: true,
        });
        if (created.count === 1) continue;
        await tx.member.updateMany({
          where: { id: m.id, OR: [{ sourceUpdatedAt: null }, { sourceUpdatedAt: { lte: m.updatedAt } }] },
          data: { ...args.update, ...version },
        });
      }
    },
    { timeout: DATABASE.versionedBatchTimeoutMs },
  );
}

export function findMember(db: Db, id: string): Promise<Member | null> {
  return db.member.findUnique({ where: { id } });
}

export async function memberExists(db: Db, id: string): Promise<boolean> {
  return (await db.member.findUnique({ where: { id }, select: { id: true } })) !== null;
}

/** Up to `take` members ordered by id, after `afterId` (exclusive). */
export function listMembers(db: Db, afterId: string | undefined, take: number): Promise<Member[]> {
  return db.member.findMany({ where: afterId ? { id: { gt: afterId } } : {}, orderBy: { id: "asc" }, take });
}

export function countMembers(db: Db): Promise<number> {
  return db.member.count();
}

const TEXT_FIELDS = ["currentPosition", "currentCompany", "location", "summary"] as const;

/**
 * Events without `updatedAt` in one statement: the batch folded by id in order (a later event's
 * fields over an earlier one's, fields left out kept), existing rows updated field by field
 * (a field an event leaves out keeps its value, null clears it), the others inserted. One round
 * trip instead of one per event: a member topic's batch of thousands takes milliseconds.
 */
async function upsertUnversioned(db: Db, members: MemberEvent[]): Promise<void> {
  const folded = new Map<string, MemberEvent>();
  for (const m of members) {
    const prev = folded.get(m.id) ?? { id: m.id };
    const next: MemberEvent = { ...prev };
    for (const [k, v] of Object.entries(m)) if (v !== undefined) (next as Record<string, unknown>)[k] = v;
    folded.set(m.id, next);
  }
  const rows = [...folded.values()];
  const col = <T>(f: (m: MemberEvent) => T) => rows.map(f);
  const text = Object.fromEntries(
    TEXT_FIELDS.map((f) => [f, { value: col((m) => m[f] ?? null), set: col((m) => m[f] !== undefined) }]),
  ) as Record<(typeof TEXT_FIELDS)[number], { value: (string | null)[]; set: boolean[] }>;
  await db.$executeRaw`
    WITH input AS (
      SELECT * FROM unnest(
        ${col((m) => m.id)}::text[],
        ${text.currentPosition.value}::text[], ${text.currentPosition.set}::bool[],
        ${text.currentCompany.value}::text[], ${text.currentCompany.set}::bool[],
        ${text.location.value}::text[], ${text.location.set}::bool[],
        ${text.summary.value}::text[], ${text.summary.set}::bool[],
        ${col((m) => m.yearsOfExperience ?? null)}::int[], ${col((m) => m.yearsOfExperience !== undefined)}::bool[],
        ${col((m) => JSON.stringify(m.skills ?? []))}::text[], ${col((m) => m.skills !== undefined)}::bool[]
      ) AS t(id, pos, pos_set, com, com_set, loc, loc_set, sum, sum_set, yoe, yoe_set, skills, skills_set)
    ), updated AS (
      UPDATE "Member" m SET
        "currentPosition" = CASE WHEN i.pos_set THEN i.pos ELSE m."currentPosition" END,
        "currentCompany" = CASE WHEN i.com_set THEN i.com ELSE m."currentCompany" END,
        "location" = CASE WHEN i.loc_set THEN i.loc ELSE m."location" END,
        "summary" = CASE WHEN i.sum_set THEN i.sum ELSE m."summary" END,
        "yearsOfExperience" = CASE WHEN i.yoe_set THEN i.yoe ELSE m."yearsOfExperience" END,
        "skills" = CASE WHEN i.skills_set
          THEN ARRAY(SELECT jsonb_array_elements_text(i.skills::jsonb)) ELSE m."skills" END,
        "updatedAt" = now()
      FROM input i WHERE m."id" = i.id
      RETURNING m."id"
    )
    INSERT INTO "Member" ("id", "currentPosition", "currentCompany", "location", "summary",
      "yearsOfExperience", "skills", "createdAt", "updatedAt")
    SELECT i.id, i.pos, i.com, i.loc, i.sum, i.yoe,
      ARRAY(SELECT jsonb_array_elements_text(i.skills::jsonb)), now(), now()
    FROM input i WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u."id" = i.id)
    ON CONFLICT ("id") DO NOTHING`;
}
