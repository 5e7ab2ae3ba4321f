import { Field, ID, ObjectType } from "type-graphql";
import { RecommendationsType } from "./recommendation.type";

@ObjectType({ description: "A ranking pushed to a livePredictions subscriber." })
export class LivePredictionType {
  @Field(() => String, { description: "INITIAL for the first push, INTERACTION after new interactions." })
  reason!: string;

  @Field(() => [ID], { description: "Event ids of the interactions that caused this push." })
  eventIds!: string[];

  @Field(() => RecommendationsType)
  ranking!: RecommendationsType;
}
