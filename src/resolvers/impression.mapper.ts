import type { ImpressionWithOutcomes } from "../db/impressions-read";
import { Attribution, type ImpressionType } from "../schema/impression.type";

/** A stored impression in the GraphQL shape: probabilities as a list by action code. */
export function toImpressionType({
  taskName,
  positions,
  ...impression
}: ImpressionWithOutcomes): ImpressionType {
  return {
    ...impression,
    task: taskName,
    positions: positions.map((p) => ({
      rank: p.rank,
      itemId: p.itemId,
      score: p.score,
      probabilities: Object.entries(p.probabilities)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([action, probability]) => ({ action, probability })),
      outcome: p.outcome && {
        ...p.outcome,
        attribution: p.outcome.attribution === "explicit" ? Attribution.EXPLICIT : Attribution.WINDOW,
      },
    })),
  };
}
