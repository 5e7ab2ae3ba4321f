import { Field, ID, InputType, Int } from "type-graphql";

@InputType({ description: "Creates a member or replaces the fields given; null clears a field." })
export class MemberInput {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  currentPosition?: string | null;

  @Field(() => String, { nullable: true })
  currentCompany?: string | null;

  @Field(() => String, { nullable: true })
  location?: string | null;

  @Field(() => [String], { nullable: true })
  skills?: string[] | null;

  @Field(() => Int, { nullable: true })
  yearsOfExperience?: number | null;

  @Field(() => String, { nullable: true })
  summary?: string | null;
}
