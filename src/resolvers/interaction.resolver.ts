import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import { InteractionInput, RecordInteractionsResult } from "../schema/interaction.input";
import type { GatewayContext } from "../server/context";

@Resolver()
export class InteractionResolver {
  @Mutation(() => RecordInteractionsResult, {
    description:
      "Records one or many interactions, all or none: any invalid event fails the whole call with BAD_USER_INPUT. " +
      "Idempotent on eventId, like the Kafka interactions topic.",
  })
  async recordInteractions(
    @Arg("events", () => [InteractionInput]) events: InteractionInput[],
    @Ctx() { interactions }: GatewayContext,
  ): Promise<RecordInteractionsResult> {
    const r = await interactions.recordAll(events);
    return { received: r.received, stored: r.stored.length, duplicates: r.duplicates };
  }
}
