import { Args, ArgsType, Field, ID, Int, Resolver, Root, Subscription } from "type-graphql";
import { badInput } from "../errors";
import { ExplanationEventType } from "../schema/explanation.type";
import type { GatewayContext } from "../server/context";
import { abortable, eventOrThrow } from "../services/abortable";
import { explain } from "../services/explanations";
import { explanationDeps } from "./deps";

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
      const maxTokens = a.maxTokens ?? ctx.config.EXPLANATION_MAX_TOKENS;
      if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 4096) {
        throw badInput(`maxTokens must be between 1 and 4096, got ${maxTokens}`, { argument: "maxTokens" });
      }
      const deps = explanationDeps(ctx);
      return abortable((signal) =>
        explain(deps, { memberId: a.memberId, taskName: a.task, itemId: a.itemId, maxTokens }, signal),
      );
    },
  })
  explanation(
    @Root() event: ExplanationEventType | Error,
    @Args(() => ExplanationArgs) _args: ExplanationArgs,
  ): ExplanationEventType {
    return eventOrThrow(event);
  }
}
