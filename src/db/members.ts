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
    await db.$transaction(members.map((m) => db.member.upsert(upsertArgs(m))));
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
