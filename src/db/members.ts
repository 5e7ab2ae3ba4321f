import type { Member } from "@prisma/client";
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

/** Many members in one transaction (the Kafka path). */
export async function upsertMembers(db: Db, members: MemberEvent[]): Promise<void> {
  if (members.length > 0) await db.$transaction(members.map((m) => db.member.upsert(upsertArgs(m))));
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
