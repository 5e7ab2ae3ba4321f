import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { ItemType } from "./item.type";

@ObjectType({ description: "The model's probability of one answer for one candidate." })
export class ActionProbabilityType {
  @Field(() => String, { description: "Interaction code, e.g. APPLY." })
  action!: string;

  @Field(() => String, { description: 'Answer word, e.g. "apply".' })
  answer!: string;

  @Field(() => Boolean, { description: "Whether this answer counts towards the score." })
  positive!: boolean;

  @Field(() => Float, { description: "Probability among the task's answers (they sum to 1)." })
  probability!: number;

  @Field(() => Float, {
    description:
      "Natural-log probability of the answer tokens over the whole vocabulary. Selecting it makes the model " +
      "compute its whole output layer for every candidate; without it only the answers' rows are computed " +
      "(ranks, scores and probabilities are the same).",
  })
  logprob!: number;
}

@ObjectType({ description: "A ranked candidate." })
export class RecommendationType {
  @Field(() => Int, { description: "1 = best." })
  rank!: number;

  @Field(() => Float, { description: "Probability mass of the task's positive answers; the ranking key." })
  score!: number;

  @Field(() => ID)
  itemId!: string;

  @Field(() => ItemType, { description: "The candidate item." })
  item!: ItemType;

  @Field(() => [ActionProbabilityType])
  actions!: ActionProbabilityType[];
}

@ObjectType({ description: "Token accounting of the model call." })
export class InferenceUsageType {
  @Field(() => Int)
  promptTokens!: number;

  @Field(() => Int, { description: "Tokens whose attention state came from the sidecar's prefix cache." })
  cachedTokens!: number;

  @Field(() => Int)
  computedTokens!: number;
}

@ObjectType({
  description:
    "Where the sidecar spent the model call, as it reports it; the rest of a request's latency is the gateway's and the network's.",
})
export class InferenceTimingsType {
  @Field(() => Float, {
    description: "From arrival at the sidecar's engine to its first step on the request.",
  })
  queueMs!: number;

  @Field(() => Float, { description: "Prefill of the prompt (prefix, candidates and labels)." })
  prefillMs!: number;

  @Field(() => Float, { description: "From arrival at the engine to the answer." })
  totalMs!: number;
}

@ObjectType({ description: "Candidates ranked by the model's probability of the task's positive answers." })
export class RecommendationsType {
  @Field(() => ID, { description: "Id of this ranking, also sent to the sidecar." })
  requestId!: string;

  @Field(() => ID, { nullable: true, description: "The impression recorded for this ranking." })
  impressionId!: string | null;

  @Field(() => String, { description: "The model that scored." })
  model!: string;

  @Field(() => String, {
    description:
      "Version of the prompt the model was asked: the renderer's revision and the task's wording, hashed.",
  })
  promptVersion!: string;

  @Field(() => ID)
  memberId!: string;

  @Field(() => String)
  task!: string;

  @Field(() => Int, { description: "Candidates scored; the list holds the best `first`." })
  scored!: number;

  @Field(() => Int, { description: "Past interactions that fit the prompt." })
  historyUsed!: number;

  @Field(() => [RecommendationType])
  items!: RecommendationType[];

  @Field(() => InferenceUsageType)
  usage!: InferenceUsageType;

  @Field(() => InferenceTimingsType)
  timings!: InferenceTimingsType;
}
