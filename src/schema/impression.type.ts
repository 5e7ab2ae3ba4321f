import { Field, Float, ID, Int, ObjectType, registerEnumType } from "type-graphql";

export enum Attribution {
  EXPLICIT = "EXPLICIT",
  WINDOW = "WINDOW",
}

registerEnumType(Attribution, {
  name: "Attribution",
  description: "How an interaction was joined to a shown position.",
  valuesConfig: {
    EXPLICIT: { description: "The interaction named the impression (its impressionId)." },
    WINDOW: {
      description:
        "The interaction named no impression; this was the latest impression that showed the member its item, within ATTRIBUTION_WINDOW_MS before it.",
    },
  },
});

@ObjectType({ description: "An action's probability for a shown item, as served." })
export class ServedProbabilityType {
  @Field(() => String, { description: "Interaction code, e.g. APPLY." })
  action!: string;

  @Field(() => Float, { description: "Probability among the task's answers (they sum to 1)." })
  probability!: number;
}

@ObjectType({ description: "The interaction attributed to a shown position." })
export class ImpressionOutcomeType {
  @Field(() => String, { description: "Upper-case action code such as APPLY or VIEW." })
  action!: string;

  @Field(() => ID)
  eventId!: string;

  @Field(() => Date)
  occurredAt!: Date;

  @Field(() => Attribution)
  attribution!: Attribution;
}

@ObjectType({ description: "One shown position of an impression, as served, and what came of it." })
export class ImpressionPositionType {
  @Field(() => Int, { description: "1 = first shown." })
  rank!: number;

  @Field(() => ID)
  itemId!: string;

  @Field(() => Float, {
    description: "The ranking key as served: probability mass of the task's positive answers.",
  })
  score!: number;

  @Field(() => [ServedProbabilityType], {
    description: "Each action's probability as served, by action code.",
  })
  probabilities!: ServedProbabilityType[];

  @Field(() => ImpressionOutcomeType, {
    nullable: true,
    description:
      "The interaction attributed to this position: the first that named the impression, else the first " +
      "within ATTRIBUTION_WINDOW_MS after it while no later impression showed the item; null when none.",
  })
  outcome!: ImpressionOutcomeType | null;
}

@ObjectType({
  description: "A served ranking as recorded: what was shown to whom, and the outcome of each position.",
})
export class ImpressionType {
  @Field(() => ID, { description: "Recommendations.impressionId of the ranking." })
  id!: string;

  @Field(() => ID, { description: "Recommendations.requestId of the ranking." })
  requestId!: string;

  @Field(() => ID)
  memberId!: string;

  @Field(() => String)
  task!: string;

  @Field(() => String, { description: "The model that scored." })
  model!: string;

  @Field(() => String, { description: "Version of the prompt the model was asked." })
  promptVersion!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => [ImpressionPositionType], { description: "The shown positions in rank order." })
  positions!: ImpressionPositionType[];
}
