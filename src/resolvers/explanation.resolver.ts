import { Args, ArgsType, Field, ID, Int, Resolver, Root, Subscription } from "type-graphql";
import { checkExplanationRequest, explain } from "../ranking/explain";
import { ExplanationEventType } from "../schema/explanation.type";
import type { GatewayContext } from "../server/context";
import { explanationDeps } from "./deps";
import { abortable, eventOrThrow } from "./subscription";

@ArgsType()
class ExplanationArgs {
  @Field(() => ID)
  memberId!: string;

  @Field(() => String)
  task!: string;

  @Field(() => ID)
  itemId!: string;

  @Field(() => Int, {
    nullable: true,
    description: "Most tokens to generate; default EXPLANATION_MAX_TOKENS.",
  })
  maxTokens?: number | null;
}

@Resolver()
export class ExplanationResolver {
  @Subscription(() => ExplanationEventType, {
    description:
      "Streams the model's explanation of why the member would or would not take the task's action on an item. " +
      "Unsubscribing cancels the generation in the sidecar.",
    subscribe: ({ args, context }) => {
      const a = args as ExplanationArgs;
      const ctx = context as GatewayContext;
      const req = checkExplanationRequest({
        memberId: a.memberId,
        taskName: a.task,
        itemId: a.itemId,
        maxTokens: a.maxTokens ?? ctx.config.EXPLANATION_MAX_TOKENS,
      });
      const deps = explanationDeps(ctx);
      return abortable(ctx.signal, (signal) => explain(deps, req, signal));
    },
  })
  explanation(
    @Root() event: ExplanationEventType | Error,
    @Args(() => ExplanationArgs) _args: ExplanationArgs,
  ): ExplanationEventType {
    return eventOrThrow(event);
  }
}
