import { Field, InputType, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "How one action appears in a task's prompt." })
@InputType("TaskActionInput")
export class TaskActionType {
  @Field(() => String, { description: "Interaction code, e.g. APPLY." })
  action!: string;

  @Field(() => String, { description: 'History phrase: "Member has <historyPhrase> the following jobs".' })
  historyPhrase!: string;

  @Field(() => String, { description: 'Answer word after "Answer: The member will", e.g. "apply".' })
  answer!: string;

  @Field(() => Boolean, { description: "Whether this answer counts towards the ranking score." })
  positive!: boolean;
}

@ObjectType({ description: "Which past interactions go into the prompt." })
@InputType("HistoryPolicyInput")
export class HistoryPolicyType {
  @Field(() => Int, { description: "Most interactions read, newest first." })
  maxItems!: number;

  @Field(() => Int, {
    nullable: true,
    description: "Token budget of the prompt prefix; null: the gateway default.",
  })
  maxTokens?: number | null;

  @Field(() => Int, { nullable: true, description: "Only interactions of the last N days." })
  lookbackDays?: number | null;
}

@ObjectType({ description: "A prediction task, defined in words as 360Brew defines tasks." })
export class TaskType {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  instruction!: string;

  @Field(() => String, { nullable: true })
  note!: string | null;

  @Field(() => String, { description: "Type of the items this task ranks, e.g. JOB." })
  itemType!: string;

  @Field(() => String)
  itemNoun!: string;

  @Field(() => String)
  itemNounPlural!: string;

  @Field(() => String, {
    description: 'Verb phrase of the question: "Will the member <questionVerb> the following job".',
  })
  questionVerb!: string;

  @Field(() => [TaskActionType])
  actions!: TaskActionType[];

  @Field(() => HistoryPolicyType)
  historyPolicy!: HistoryPolicyType;
}
