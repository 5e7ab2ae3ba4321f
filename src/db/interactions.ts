import type { InteractionEvent } from "../domain/events";
import type { Db } from "./client";

export interface Rejection {
  index: number;
  eventId: string;
  reason: string;
}

/**
 * Finds events that name a member or item the database does not know. Two indexed lookups per
 * batch, whatever its size.
 */
export async function findUnknownReferences(db: Db, events: InteractionEvent[]): Promise<Rejection[]> {
  if (events.length === 0) return [];
  const memberIds = [...new Set(events.map((e) => e.memberId))];
  const itemIds = [...new Set(events.map((e) => e.itemId))];
  const [members, items] = await Promise.all([
    db.member.findMany({ where: { id: { in: memberIds } }, select: { id: true } }),
    db.item.findMany({ where: { id: { in: itemIds } }, select: { id: true } }),
  ]);
  const knownMembers = new Set(members.map((m) => m.id));
  const knownItems = new Set(items.map((i) => i.id));
  const rejected: Rejection[] = [];
  events.forEach((e, index) => {
    if (!knownMembers.has(e.memberId)) {
      rejected.push({ index, eventId: e.eventId, reason: `unknown member '${e.memberId}'` });
    } else if (!knownItems.has(e.itemId)) {
      rejected.push({ index, eventId: e.eventId, reason: `unknown item '${e.itemId}'` });
    }
  });
  return rejected;
}

/**
 * Inserts interactions in one statement; an event id seen before (in this batch or earlier) is
 * skipped, which makes redelivery harmless. Returns the events that were new.
 */
export async function insertInteractions(db: Db, events: InteractionEvent[]): Promise<InteractionEvent[]> {
  if (events.length === 0) return [];
  const rows = await db.$queryRaw<{ eventId: string }[]>`
    INSERT INTO "Interaction" ("eventId", "memberId", "itemId", "action", "surface", "occurredAt", "impressionId")
    SELECT * FROM unnest(
      ${events.map((e) => e.eventId)}::text[],
      ${events.map((e) => e.memberId)}::text[],
      ${events.map((e) => e.itemId)}::text[],
      ${events.map((e) => e.action)}::text[],
      ${events.map((e) => e.surface ?? null)}::text[],
      ${events.map((e) => e.occurredAt.toISOString())}::timestamptz[],
      ${events.map((e) => e.impressionId ?? null)}::text[]
    )
    ON CONFLICT ("eventId") DO NOTHING
    RETURNING "eventId"`;
  const inserted = new Set(rows.map((r) => r.eventId));
  const firstSeen = new Set<string>();
  return events.filter((e) => {
    if (!inserted.has(e.eventId) || firstSeen.has(e.eventId)) return false;
    firstSeen.add(e.eventId);
    return true;
  });
}
