import type { Db } from "../db/client";
import type { RecommendationsType } from "../schema/recommendation.type";
import type { Ranking } from "./recommendations";

/** Attaches the item rows to a ranking for the GraphQL shape (one query for the whole list). */
export async function withItems(db: Db, ranking: Ranking): Promise<RecommendationsType> {
  const rows = await db.item.findMany({ where: { id: { in: ranking.candidates.map((c) => c.itemId) } } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return {
    ...ranking,
    items: ranking.candidates.map((c) => ({ ...c, item: byId.get(c.itemId) as never })),
  } as RecommendationsType;
}
