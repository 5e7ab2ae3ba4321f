import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { itemEvent } from "../ingest/events";
import { ItemConnection } from "../schema/connections";
import { ItemInput } from "../schema/item.input";
import { ItemType } from "../schema/item.type";
import type { GatewayContext } from "../server/context";
import { upsertItem } from "../services/items";
import { paginate } from "../services/pagination";
import { parseInput } from "../services/validate";

@Resolver(() => ItemType)
export class ItemResolver {
  @Query(() => ItemType, { nullable: true, description: "An item by id; null when unknown." })
  item(@Arg("id", () => ID) id: string, @Ctx() { db }: GatewayContext) {
    return db.item.findUnique({ where: { id } });
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
    const where = type ? { type } : {};
    return paginate(
      { first, after },
      (afterId, take) =>
        db.item.findMany({
          where: afterId ? { ...where, id: { gt: afterId } } : where,
          orderBy: { id: "asc" },
          take,
        }),
      () => db.item.count({ where }),
    );
  }

  @Mutation(() => ItemType, {
    description: "Creates or updates an item (same rules as the Kafka items topic).",
  })
  upsertItem(@Arg("input", () => ItemInput) input: ItemInput, @Ctx() { db }: GatewayContext) {
    return upsertItem(db, parseInput(itemEvent, input, "input"));
  }
}
