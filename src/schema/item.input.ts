import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, InputType } from "type-graphql";

@InputType({ description: "Creates an item or replaces the fields given; null clears a field." })
export class ItemInput {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  type!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String, { nullable: true })
  company?: string | null;

  @Field(() => String, { nullable: true })
  location?: string | null;

  @Field(() => String, { nullable: true })
  country?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: "Flat map of string, number or boolean values.",
  })
  attributes?: Record<string, unknown> | null;

  @Field(() => Date, {
    nullable: true,
    description:
      "When the item was posted: its createdAt, by which retrieval offers the newest first. Unset: when it is first stored.",
  })
  postedAt?: Date | null;
}
