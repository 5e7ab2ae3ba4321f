import type { LivePrediction } from "../ranking/live";
import type { Ranking } from "../ranking/recommend";
import type { LivePredictionType } from "../schema/live-prediction.type";
import type { RecommendationsType } from "../schema/recommendation.type";

/** A ranking in the GraphQL shape; the item rows came with the prompt, nothing is read again. */
export function toRecommendationsType(ranking: Ranking): RecommendationsType {
  // Item.attributes is Prisma JSON; the GraphQL field is a JSON object scalar serializing it as is.
  return { ...ranking, items: ranking.candidates } as unknown as RecommendationsType;
}

export function toLivePredictionType(push: LivePrediction): LivePredictionType {
  return { ...push, ranking: toRecommendationsType(push.ranking) };
}
