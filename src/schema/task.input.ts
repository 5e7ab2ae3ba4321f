import { Field, InputType } from "type-graphql";
import { HistoryPolicyType, TaskActionType } from "./task.type";

@InputType({ description: "Creates or replaces a task." })
export class TaskInput {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  instruction!: string;

  @Field(() => String, { nullable: true })
  note?: string | null;

  @Field(() => String)
  itemType!: string;

  @Field(() => String)
  itemNoun!: string;

  @Field(() => String)
  itemNounPlural!: string;

  @Field(() => String)
  questionVerb!: string;

  @Field(() => [TaskActionType])
  actions!: TaskActionType[];

  @Field(() => HistoryPolicyType, { nullable: true })
  historyPolicy?: HistoryPolicyType | null;
}
