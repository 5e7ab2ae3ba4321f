import { type Db, sql } from "./client";

/** What the member did with one shown position of an impression, or nothing. */
export interface PositionOutcome {
  impressionId: string;
  /** 1 = first shown. */
  rank: number;
  itemId: string;
  /** The interaction joined to this position; null fields when there is none. */
  action: string | null;
  eventId: string | null;
  occurredAt: Date | null;
  /** How it was joined: the interaction named the impression, or the attribution window did. */
  attribution: "explicit" | "window" | null;
}

/**
 * outcomesOf's statement: $1 the impression ids (text[]), $2 the window in milliseconds. Exported
 * so bench/outcomes.ts can EXPLAIN exactly what the product runs.
 */
export const OUTCOMES_SQL = `SELECT ii."impressionId", ii."rank", ii."itemId", o."action", o."eventId",
         (o."occurredAt" AT TIME ZONE 'UTC') AS "occurredAt", o."explicit"
  FROM "ImpressionItem" ii
  LEFT JOIN LATERAL (
    SELECT i."action", i."eventId", i."occurredAt", (i."impressionId" IS NOT NULL) AS "explicit"
    FROM "Interaction" i
    WHERE i."memberId" = ii."memberId" AND i."itemId" = ii."itemId"
      AND (i."impressionId" = ii."impressionId"
           OR (i."impressionId" IS NULL
               AND i."occurredAt" >= ii."createdAt"
               AND i."occurredAt" < ii."createdAt" + make_interval(secs => $2::float8 / 1000)
               AND NOT EXISTS (
                 SELECT 1 FROM "ImpressionItem" later
                 WHERE later."memberId" = ii."memberId" AND later."itemId" = ii."itemId"
                   AND later."createdAt" > ii."createdAt" AND later."createdAt" <= i."occurredAt")))
    ORDER BY "explicit" DESC, i."occurredAt" ASC, i."eventId" ASC
    LIMIT 1
  ) o ON true
  WHERE ii."impressionId" = ANY($1::text[])
  ORDER BY ii."impressionId", ii."rank"`;

/**
 * The outcome of every shown position of `impressionIds`, by this rule:
 * - an interaction that names the impression (`impressionId`) belongs to it, whenever it happened;
 * - otherwise an interaction of the member with the item belongs to the latest impression that
 *   showed them the item at or before it happened, if that was less than `windowMs` before;
 * - a position's outcome is the first interaction that belongs to it (named ones first).
 *
 * One indexed query: the positions by primary key, then for each a lateral lookup on
 * Interaction (memberId, itemId, occurredAt) and, for "a later impression showed it", on
 * ImpressionItem (memberId, itemId, createdAt).
 */
export async function outcomesOf(
  db: Db,
  impressionIds: string[],
  windowMs: number,
): Promise<PositionOutcome[]> {
  const rows = await sql<Omit<PositionOutcome, "attribution"> & { explicit: boolean | null }>(
    db,
    OUTCOMES_SQL,
    [impressionIds, windowMs],
  );
  return rows.map(({ explicit, ...r }) => ({
    ...r,
    attribution: explicit === null ? null : explicit ? "explicit" : "window",
  }));
}
