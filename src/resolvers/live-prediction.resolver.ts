import { Args, ArgsType, Field, ID, Int, Resolver, Root, Subscription } from "type-graphql";
import { requireInference } from "../inference/service";
import { LivePredictionType } from "../schema/live-prediction.type";
import type { GatewayContext } from "../server/context";
import { abortable, eventOrThrow } from "../services/abortable";
import { livePredictions } from "../services/live-predictions";
import { requireTokenizer } from "../services/prompts";

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
    subscribe: ({ args, context }) => {
      const a = args as LivePredictionArgs;
      const ctx = context as GatewayContext;
      const deps = {
        db: ctx.db,
        tokenizer: requireTokenizer(ctx.tokenizer),
        inference: requireInference(ctx.inference),
        publishImpression: ctx.publishImpression,
        maxPrefixTokens: ctx.config.PROMPT_MAX_TOKENS,
        retrievalLimit: ctx.config.RETRIEVAL_LIMIT,
        prefixCache: ctx.prefixCache,
      };
      const req = { memberId: a.memberId, taskName: a.task, candidateIds: a.candidateIds, first: a.first };
      return abortable((signal) => livePredictions(deps, ctx.pubSub, req, signal));
    },
  })
  livePredictions(
    @Root() push: LivePredictionType | Error,
    @Args(() => LivePredictionArgs) _args: LivePredictionArgs,
  ): LivePredictionType {
    return eventOrThrow(push);
  }
}
