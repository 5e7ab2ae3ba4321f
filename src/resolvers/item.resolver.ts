import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { countItems, findItem, listItems, upsertItem } from "../db/items";
import { itemEvent } from "../domain/events";
import { parseInput } from "../domain/validate";
import { ItemConnection } from "../schema/connections";
import { ItemInput } from "../schema/item.input";
import { ItemType } from "../schema/item.type";
import type { GatewayContext } from "../server/context";
import { paginate } from "./pagination";

@Resolver(() => ItemType)
export class ItemResolver {
  @Query(() => ItemType, { nullable: true, description: "An item by id; null when unknown." })
  item(@Arg("id", () => ID) id: string, @Ctx() { db }: GatewayContext) {
    return findItem(db, id);
  }

  @Query(() => ItemConnection, {
    description: "Items ordered by id, optionally of one type, forward pagination.",
  })
  items(
    @Ctx() { db }: GatewayContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first: number,
    @Arg("after", () => String, { nullable: true }) after?: string | null,
    @Arg("type", () => String, { nullable: true }) type?: string | null,
  ) {
    return paginate(
      { first, after },
      (afterId, take) => listItems(db, type, afterId, take),
      () => countItems(db, type),
    );
  }

  @Mutation(() => ItemType, {
    description: "Creates or updates an item (same rules as the Kafka items topic).",
  })
  upsertItem(@Arg("input", () => ItemInput) input: ItemInput, @Ctx() { db }: GatewayContext) {
    return upsertItem(db, parseInput(itemEvent, input, "input"));
  }
}
