import { Field, Float, ID, ObjectType } from "type-graphql";

@ObjectType({ description: "A piece of a streamed explanation." })
export class ExplanationEventType {
  @Field(() => ID, { description: "Id of the generation in the sidecar." })
  requestId!: string;

  @Field(() => String, { description: "The answer being explained: the model's most likely one." })
  answer!: string;

  @Field(() => Float, { description: "That answer's probability among the task's answers." })
  probability!: number;

  @Field(() => String, { description: "Text generated since the previous event; never splits a character." })
  delta!: string;

  @Field(() => Boolean, { description: "True on the last event." })
  done!: boolean;

  @Field(() => String, { nullable: true, description: "STOP, LENGTH or DEADLINE on the last event." })
  finishReason!: string | null;
}
