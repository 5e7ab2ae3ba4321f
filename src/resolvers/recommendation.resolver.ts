import type { GraphQLResolveInfo } from "graphql";
import { Arg, Ctx, ID, Info, Int, Query, Resolver } from "type-graphql";
import { recommend } from "../ranking/recommend";
import { RecommendationsType } from "../schema/recommendation.type";
import type { GatewayContext } from "../server/context";
import { recommendationDeps } from "./deps";
import { toRecommendationsType } from "./ranking.mapper";
import { selectsField } from "./selection";

@Resolver()
export class RecommendationResolver {
  @Query(() => RecommendationsType, {
    description:
      "Ranks candidates for a member with the model: one shared prompt prefix, one Score call, ranked by the " +
      "probability of the task's positive answers. Without candidateIds, the newest items of the task's item " +
      "type the member has not interacted with are ranked (up to RETRIEVAL_LIMIT). Each ranking is recorded " +
      "as an impression.",
  })
  async recommendations(
    @Arg("memberId", () => ID) memberId: string,
    @Arg("task", () => String) task: string,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
    @Arg("candidateIds", () => [ID], { nullable: true }) candidateIds?: string[] | null,
    @Arg("first", () => Int, { defaultValue: 10 }) first = 10,
  ): Promise<RecommendationsType> {
    const ranking = await recommend(
      recommendationDeps(ctx),
      { memberId, taskName: task, candidateIds, first, logprobs: selectsField(info, "logprob") },
      ctx.signal,
    );
    return toRecommendationsType(ranking);
  }
}
