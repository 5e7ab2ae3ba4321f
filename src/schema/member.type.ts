import { Field, ID, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "A member, with the profile fields a 360Brew prompt verbalizes." })
export class MemberType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  currentPosition!: string | null;

  @Field(() => String, { nullable: true })
  currentCompany!: string | null;

  @Field(() => String, { nullable: true })
  location!: string | null;

  @Field(() => [String])
  skills!: string[];

  @Field(() => Int, { nullable: true })
  yearsOfExperience!: number | null;

  @Field(() => String, { nullable: true })
  summary!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;
}
