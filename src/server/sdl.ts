import { lexicographicSortSchema, printSchema } from "graphql";
import { createGatewayPubSub } from "../bus/pubsub";
import { createSchema } from "./schema";

/** The schema as SDL in a stable order, as committed in schema.graphql. */
export async function printSchemaSdl(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await createSchema(createGatewayPubSub().pubSub)))}\n`;
}
