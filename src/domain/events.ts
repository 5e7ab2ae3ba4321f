import { z } from "zod";

/**
 * Event schemas shared by every write path (Kafka topics and GraphQL mutations), so both accept
 * and reject exactly the same things.
 */

const id = z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters");
const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

/** Upper-case word such as APPLY, VIEW, DISMISS, LIKE. */
export const actionCode = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{0,39}$/, "must be an upper-case action code such as APPLY or VIEW");

export const interactionEvent = z.object({
  eventId: id,
  memberId: id,
  itemId: id,
  action: actionCode,
  surface: text(100).nullish(),
  occurredAt: z.coerce.date({ error: "must be a date-time" }),
  /**
   * The impression this interaction answers (Recommendations.impressionId), when the client knows
   * it. Not checked against the impressions table: an impression is written behind its answer,
   * so the interaction can arrive first.
   */
  impressionId: id.nullish(),
});
export type InteractionEvent = z.infer<typeof interactionEvent>;

export const memberEvent = z.object({
  id,
  currentPosition: text(300).nullish(),
  currentCompany: text(300).nullish(),
  location: text(300).nullish(),
  skills: z.array(text(100)).max(200).nullish(),
  yearsOfExperience: z.number().int().min(0).max(80).nullish(),
  summary: text(5000).nullish(),
  /** When the producer changed the member: an event older than the one stored is not applied. */
  updatedAt: z.coerce.date({ error: "must be a date-time" }).nullish(),
});
export type MemberEvent = z.infer<typeof memberEvent>;

const attributeValue = z.union([z.string().max(2000), z.number(), z.boolean()]);

export const itemEvent = z.object({
  id,
  type: z.string().regex(/^[A-Z][A-Z0-9_]{0,39}$/, "must be an upper-case item type such as JOB or POST"),
  title: text(500).min(1, "must not be empty"),
  company: text(300).nullish(),
  location: text(300).nullish(),
  country: text(100).nullish(),
  description: text(20_000).nullish(),
  attributes: z.record(z.string().max(100), attributeValue).nullish(),
  /** When the item was posted (its createdAt: retrieval offers the newest first); unset: when first stored. */
  postedAt: z.coerce.date({ error: "must be a date-time" }).nullish(),
  /** When the producer changed the item: an event older than the one stored is not applied. */
  updatedAt: z.coerce.date({ error: "must be a date-time" }).nullish(),
});
export type ItemEvent = z.infer<typeof itemEvent>;

/** One line per problem, each naming the field: `occurredAt: must be a date-time`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "event"}: ${i.message}`)
    .join("; ");
}
