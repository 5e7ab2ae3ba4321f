import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import { InteractionInput, RecordInteractionsResult } from "../schema/interaction.input";
import type { GatewayContext } from "../server/context";
import { recordInteractions } from "../services/record-interactions";

@Resolver()
export class InteractionResolver {
  @Mutation(() => RecordInteractionsResult, {
    description:
      "Records one or many interactions, all or none: any invalid event fails the whole call with BAD_USER_INPUT. " +
      "Idempotent on eventId, like the Kafka interactions topic.",
  })
  recordInteractions(
    @Arg("events", () => [InteractionInput]) events: InteractionInput[],
    @Ctx() { db, pubSub }: GatewayContext,
  ) {
    return recordInteractions(db, pubSub, events);
  }
}
