import type { Db } from "../db/client";
import { badInput } from "../errors";
import { describeIssues, type InteractionEvent, interactionEvent } from "../ingest/events";
import { type GatewayPubSub, publishInteractions } from "../server/pubsub";
import { findUnknownReferences, insertInteractions } from "./interactions";

export const MAX_EVENTS_PER_CALL = 10_000;

/** The mutation's path: validate everything first, store all or nothing. */
export async function recordInteractions(db: Db, pubSub: GatewayPubSub, input: unknown[]) {
  if (input.length === 0) throw badInput("events must not be empty", { argument: "events" });
  if (input.length > MAX_EVENTS_PER_CALL) {
    throw badInput(`at most ${MAX_EVENTS_PER_CALL} events per call, got ${input.length}`, {
      argument: "events",
    });
  }
  const events: InteractionEvent[] = [];
  const invalid: { index: number; reason: string }[] = [];
  input.forEach((raw, index) => {
    const parsed = interactionEvent.safeParse(raw);
    if (parsed.success) events.push(parsed.data);
    else invalid.push({ index, reason: describeIssues(parsed.error) });
  });
  if (invalid.length === 0) {
    for (const r of await findUnknownReferences(db, events))
      invalid.push({ index: r.index, reason: r.reason });
  }
  if (invalid.length > 0) {
    const first = invalid[0];
    throw badInput(
      `events[${first.index}]: ${first.reason}${invalid.length > 1 ? ` (and ${invalid.length - 1} more)` : ""}`,
      {
        argument: "events",
        invalid,
      },
    );
  }
  const stored = await insertInteractions(db, events);
  publishInteractions(pubSub, stored);
  return { received: events.length, stored: stored.length, duplicates: events.length - stored.length };
}
