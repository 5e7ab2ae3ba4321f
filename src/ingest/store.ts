import type { z } from "zod";
import type { Db } from "../db/client";
import { findUnknownReferences, insertInteractions } from "../services/interactions";
import { upsertItems } from "../services/items";
import { upsertMembers } from "../services/members";
import type { Decoded, Rejected } from "./decode";
import { type InteractionEvent, interactionEvent, itemEvent, memberEvent } from "./events";

/** What one write of a batch did. */
export interface StoreResult {
  stored: number;
  duplicates: number;
  /** Valid events the database cannot take (e.g. an unknown member); they are dead-lettered. */
  rejected: Rejected[];
  /** Interactions that were new, for listeners such as live predictions. */
  newInteractions: InteractionEvent[];
}

/** How one topic's events are validated and written. Each store call is one database write. */
export interface TopicStore<S extends z.ZodType = z.ZodType> {
  schema: S;
  store(db: Db, events: Decoded<z.infer<S>>[]): Promise<StoreResult>;
}

export const interactionStore: TopicStore<typeof interactionEvent> = {
  schema: interactionEvent,
  async store(db, decoded) {
    const events = decoded.map((d) => d.event);
    const unknown = await findUnknownReferences(db, events);
    const skip = new Set(unknown.map((u) => u.index));
    const accepted = events.filter((_, i) => !skip.has(i));
    const newInteractions = await insertInteractions(db, accepted);
    return {
      stored: newInteractions.length,
      duplicates: accepted.length - newInteractions.length,
      rejected: unknown.map((u) => ({ message: decoded[u.index].message, reason: u.reason })),
      newInteractions,
    };
  },
};

// Upserts by id: a repeated member or item event writes the same row again, so it counts as stored.
function upsertStore<S extends z.ZodType>(
  schema: S,
  upsert: (db: Db, events: z.infer<S>[]) => Promise<void>,
): TopicStore<S> {
  return {
    schema,
    async store(db, decoded) {
      await upsert(
        db,
        decoded.map((d) => d.event),
      );
      return { stored: decoded.length, duplicates: 0, rejected: [], newInteractions: [] };
    },
  };
}

export const memberStore = upsertStore(memberEvent, upsertMembers);
export const itemStore = upsertStore(itemEvent, upsertItems);
