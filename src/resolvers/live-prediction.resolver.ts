import { Args, ArgsType, Field, ID, Int, Resolver, Root, Subscription } from "type-graphql";
import { type LivePrediction, livePredictions } from "../ranking/live";
import { LivePredictionType } from "../schema/live-prediction.type";
import type { GatewayContext } from "../server/context";
import { recommendationDeps } from "./deps";
import { toLivePredictionType } from "./ranking.mapper";
import { selectsField } from "./selection";
import { abortable, eventOrThrow } from "./subscription";

@ArgsType()
class LivePredictionArgs {
  @Field(() => ID)
  memberId!: string;

  @Field(() => String)
  task!: string;

  @Field(() => [ID], {
    nullable: true,
    description: "Candidates to keep re-ranking; default: the retrieval step's.",
  })
  candidateIds?: string[] | null;

  @Field(() => Int, { defaultValue: 10 })
  first!: number;
}

@Resolver()
export class LivePredictionResolver {
  @Subscription(() => LivePredictionType, {
    description:
      "The member's ranking now, then a fresh one whenever a new interaction of the member arrives " +
      "(Kafka or mutation, on any gateway replica).",
    subscribe: ({ args, context, info }) => {
      const a = args as LivePredictionArgs;
      const ctx = context as GatewayContext;
      const deps = recommendationDeps(ctx);
      const req = {
        memberId: a.memberId,
        taskName: a.task,
        candidateIds: a.candidateIds,
        first: a.first,
        logprobs: selectsField(info, "logprob"),
      };
      return abortable(ctx.signal, (signal) => livePredictions(deps, ctx.pubSub, req, signal));
    },
  })
  livePredictions(
    @Root() push: LivePrediction | Error,
    @Args(() => LivePredictionArgs) _args: LivePredictionArgs,
  ): LivePredictionType {
    return toLivePredictionType(eventOrThrow(push));
  }
}
