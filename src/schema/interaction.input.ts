import { Field, ID, InputType, Int, ObjectType } from "type-graphql";

@InputType({ description: "An interaction event; the same shape as on the Kafka interactions topic." })
export class InteractionInput {
  @Field(() => ID)
  eventId!: string;

  @Field(() => ID)
  memberId!: string;

  @Field(() => ID)
  itemId!: string;

  @Field(() => String)
  action!: string;

  @Field(() => String, { nullable: true })
  surface?: string | null;

  @Field(() => Date)
  occurredAt!: Date;

  @Field(() => ID, {
    nullable: true,
    description: "The impression this interaction answers (Recommendations.impressionId), when known.",
  })
  impressionId?: string | null;
}

@ObjectType()
export class RecordInteractionsResult {
  @Field(() => Int, { description: "Events in the request." })
  received!: number;

  @Field(() => Int, { description: "Events stored now." })
  stored!: number;

  @Field(() => Int, { description: "Events whose eventId was already stored (nothing changed)." })
  duplicates!: number;
}
