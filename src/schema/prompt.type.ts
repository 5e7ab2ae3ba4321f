import { Field, ID, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "A candidate's part of the prompt: the question and the answer stem." })
export class PromptSuffixType {
  @Field(() => ID)
  itemId!: string;

  @Field(() => String)
  text!: string;

  @Field(() => [Int])
  tokenIds!: number[];
}

@ObjectType({ description: "An answer label and its token ids." })
export class PromptLabelType {
  @Field(() => String)
  action!: string;

  @Field(() => String)
  answer!: string;

  @Field(() => Boolean)
  positive!: boolean;

  @Field(() => [Int])
  tokenIds!: number[];
}

@ObjectType({
  description: "The exact prompt a ranking sends to the model: one shared prefix, one suffix per candidate.",
})
export class PromptType {
  @Field(() => String)
  prefixText!: string;

  @Field(() => [Int], { description: "BOS (when the model has one) followed by the prefix's tokens." })
  prefixTokenIds!: number[];

  @Field(() => Int, { description: "Past interactions that fit the token budget (the newest)." })
  historyUsed!: number;

  @Field(() => Int, { description: "Past interactions the history policy offered." })
  historyAvailable!: number;

  @Field(() => [PromptSuffixType])
  candidates!: PromptSuffixType[];

  @Field(() => [PromptLabelType])
  labels!: PromptLabelType[];
}
