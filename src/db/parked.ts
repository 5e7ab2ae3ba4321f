import type { Prisma } from "@prisma/client";
import type { Db } from "./client";

/** An interaction waiting for its member or item, with the Kafka message it came in. */
export interface NewParkedInteraction {
  eventId: string;
  memberId: string;
  itemId: string;
  /** The validated event as JSON (occurredAt as an ISO string). */
  event: Record<string, unknown>;
  reason: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  messageKey: Uint8Array | null;
  messageValue: Uint8Array | null;
  messageTimestamp: string;
  /** Header name to base64 value, or to a list of them. */
  messageHeaders: Record<string, string | string[]>;
}

export interface ParkedInteraction extends NewParkedInteraction {
  parkedAt: Date;
}

/** Parks interactions; one parked before (a redelivery) is kept as it was. Returns how many were new. */
export async function parkInteractions(db: Db, rows: NewParkedInteraction[]): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.parkedInteraction.createMany({
    data: rows.map((row) => ({
      ...row,
      event: row.event as Prisma.InputJsonObject,
      messageKey: bytes(row.messageKey),
      messageValue: bytes(row.messageValue),
    })),
    skipDuplicates: true,
  });
  return r.count;
}

/** Parked interactions whose member and item both exist now, oldest first. */
export async function findReleasable(
  db: Db,
  limit: number,
): Promise<{ eventId: string; event: Record<string, unknown> }[]> {
  return db.$queryRaw`
    SELECT p."eventId", p."event" FROM "ParkedInteraction" p
    WHERE EXISTS (SELECT 1 FROM "Member" m WHERE m."id" = p."memberId")
      AND EXISTS (SELECT 1 FROM "Item" i WHERE i."id" = p."itemId")
    ORDER BY p."parkedAt"
    LIMIT ${limit}`;
}

/** How many interactions are parked, and since when the oldest has waited (null: none). */
export async function parkedSummary(db: Db): Promise<{ count: number; oldest: Date | null }> {
  const [row] = await db.$queryRaw<{ count: number; oldest: Date | null }[]>`
    SELECT count(*)::int AS "count", min("parkedAt") AS "oldest" FROM "ParkedInteraction"`;
  return row;
}

export async function deleteParked(db: Db, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await db.parkedInteraction.deleteMany({ where: { eventId: { in: eventIds } } });
}

/**
 * Takes parked interactions waiting since before `before` whose member or item is still unknown,
 * with the reason as it stands now, and hands them to `handle` (which dead-letters them) inside
 * one transaction: they are deleted only if `handle` succeeds, and a replica sweeping at the same
 * time skips the rows this one holds.
 */
export async function takeExpired(
  db: Db,
  before: Date,
  limit: number,
  handle: (rows: ParkedInteraction[]) => Promise<void>,
): Promise<number> {
  return db.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<ParkedInteraction[]>`
        DELETE FROM "ParkedInteraction" d
        USING (
          SELECT p."eventId",
            CASE WHEN NOT EXISTS (SELECT 1 FROM "Member" m WHERE m."id" = p."memberId")
                 THEN 'unknown member ''' || p."memberId" || ''''
                 ELSE 'unknown item ''' || p."itemId" || '''' END AS "reasonNow"
          FROM "ParkedInteraction" p
          WHERE p."parkedAt" < ${before}
            AND NOT (EXISTS (SELECT 1 FROM "Member" m WHERE m."id" = p."memberId")
                 AND EXISTS (SELECT 1 FROM "Item" i WHERE i."id" = p."itemId"))
          ORDER BY p."parkedAt"
          LIMIT ${limit}
          FOR UPDATE OF p SKIP LOCKED
        ) x
        WHERE d."eventId" = x."eventId"
        RETURNING d."eventId", d."memberId", d."itemId", d."event", x."reasonNow" AS "reason",
          d."sourceTopic", d."sourcePartition", d."sourceOffset", d."messageKey", d."messageValue",
          d."messageTimestamp", d."messageHeaders", d."parkedAt"`;
      if (rows.length > 0) await handle(rows);
      return rows.length;
    },
    { timeout: 30_000 },
  );
}

export function countParked(db: Db): Promise<number> {
  return db.parkedInteraction.count();
}

/** Prisma's Bytes takes a Uint8Array of its own (a Buffer is one, but typed apart). */
function bytes(b: Uint8Array | null): Uint8Array<ArrayBuffer> | null {
  return b === null ? null : new Uint8Array(b);
}
