import type { z } from "zod";
import { badInput } from "./errors";
import { describeIssues } from "./events";

/** Parses client input with the same schema the Kafka path uses; problems become BAD_USER_INPUT. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, argument: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw badInput(`invalid ${argument}: ${describeIssues(parsed.error)}`, { argument });
  }
  return parsed.data;
}
