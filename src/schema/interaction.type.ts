import { Field, ID, ObjectType } from "type-graphql";
import { ItemType } from "./item.type";

@ObjectType({ description: "One thing a member did to an item." })
export class InteractionType {
  @Field(() => ID, { description: "Producer-chosen unique id; writes are idempotent on it." })
  eventId!: string;

  @Field(() => ID)
  memberId!: string;

  @Field(() => ID)
  itemId!: string;

  @Field(() => String, { description: "Upper-case action code such as APPLY, VIEW or DISMISS." })
  action!: string;

  @Field(() => String, { nullable: true })
  surface!: string | null;

  @Field(() => Date)
  occurredAt!: Date;

  @Field(() => ItemType, { description: "The item acted on." })
  item!: ItemType;
}
