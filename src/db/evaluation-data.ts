import { type Db, sql } from "./client";

/** A stored impression as offline evaluation reads it: who, when, and the items in shown order. */
export interface StoredImpression {
  id: string;
  memberId: string;
  createdAt: Date;
  itemIds: string[];
  /** Each position's true probabilities, in shown order; null where none were recorded (served rankings). */
  trueProbabilities: (Record<string, number> | null)[];
}

/**
 * The task's impressions shown in [from, to), oldest first, at most `limit`; on the
 * (taskName, createdAt) index.
 */
export async function impressionsInWindow(
  db: Db,
  taskName: string,
  from: Date,
  to: Date,
  limit: number,
): Promise<StoredImpression[]> {
  const rows = await sql<StoredImpression>(
    db,
    `SELECT imp."id", imp."memberId", (imp."createdAt" AT TIME ZONE 'UTC') AS "createdAt",
            ARRAY(SELECT ii."itemId" FROM "ImpressionItem" ii
                  WHERE ii."impressionId" = imp."id" ORDER BY ii."rank") AS "itemIds",
            COALESCE((SELECT jsonb_agg(ii."trueProbabilities" ORDER BY ii."rank") FROM "ImpressionItem" ii
                      WHERE ii."impressionId" = imp."id"), '[]'::jsonb) AS "trueProbabilities"
     FROM "Impression" imp
     WHERE imp."taskName" = $1
       AND imp."createdAt" >= ($2::timestamptz AT TIME ZONE 'UTC')
       AND imp."createdAt" < ($3::timestamptz AT TIME ZONE 'UTC')
     ORDER BY imp."createdAt", imp."id"
     LIMIT $4`,
    [taskName, from.toISOString(), to.toISOString(), limit],
  );
  return rows;
}

/** Interactions with each of `itemIds`, by anyone, that happened before `before`. */
export async function interactionCountsBefore(
  db: Db,
  itemIds: string[],
  before: Date,
): Promise<Map<string, number>> {
  const rows = await sql<{ itemId: string; n: number }>(
    db,
    `SELECT "itemId", count(*)::int AS "n" FROM "Interaction"
     WHERE "itemId" = ANY($1::text[]) AND "occurredAt" < ($2::timestamptz AT TIME ZONE 'UTC')
     GROUP BY "itemId"`,
    [itemIds, before.toISOString()],
  );
  return new Map(rows.map((r) => [r.itemId, r.n]));
}

/** When each of `itemIds` was created (ms since epoch). */
export async function itemCreationTimes(db: Db, itemIds: string[]): Promise<Map<string, number>> {
  const rows = await sql<{ id: string; createdAt: Date }>(
    db,
    `SELECT "id", ("createdAt" AT TIME ZONE 'UTC') AS "createdAt" FROM "Item" WHERE "id" = ANY($1::text[])`,
    [itemIds],
  );
  return new Map(rows.map((r) => [r.id, r.createdAt.getTime()]));
}
