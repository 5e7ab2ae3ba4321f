import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, ObjectType } from "type-graphql";

@ObjectType({ description: "Something that can be recommended: a job, a post, ..." })
export class ItemType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: "Open-ended upper-case type such as JOB or POST." })
  type!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String, { nullable: true })
  company!: string | null;

  @Field(() => String, { nullable: true })
  location!: string | null;

  @Field(() => String, { nullable: true })
  country!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => GraphQLJSONObject, { description: "Extra attributes, verbalized after the standard fields." })
  attributes!: Record<string, unknown>;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;
}
