import "reflect-metadata";
import type { GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import type { GatewayPubSub } from "../bus/pubsub";
import { ExplanationResolver } from "../resolvers/explanation.resolver";
import { ImpressionResolver } from "../resolvers/impression.resolver";
import { InteractionResolver } from "../resolvers/interaction.resolver";
import { ItemResolver } from "../resolvers/item.resolver";
import { LivePredictionResolver } from "../resolvers/live-prediction.resolver";
import { MemberResolver } from "../resolvers/member.resolver";
import { PromptResolver } from "../resolvers/prompt.resolver";
import { RecommendationResolver } from "../resolvers/recommendation.resolver";
import { TaskResolver } from "../resolvers/task.resolver";

export const RESOLVERS = [
  MemberResolver,
  ItemResolver,
  InteractionResolver,
  TaskResolver,
  PromptResolver,
  RecommendationResolver,
  ImpressionResolver,
  ExplanationResolver,
  LivePredictionResolver,
] as const;

/** The code-first schema; `npm run schema:print` writes it to schema.graphql for review. */
export function createSchema(pubSub: GatewayPubSub): Promise<GraphQLSchema> {
  // Input is validated by the zod schemas of src/domain/, shared with the Kafka path.
  return buildSchema({ resolvers: [...RESOLVERS], validate: false, pubSub });
}
