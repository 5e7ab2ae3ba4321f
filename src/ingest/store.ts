import type { z } from "zod";
import type { Db } from "../db/client";
import { upsertItems } from "../db/items";
import { upsertMembers } from "../db/members";
import { interactionEvent, itemEvent, memberEvent } from "../domain/events";
import type { Decoded, Rejected } from "./decode";
import type { InteractionWriter } from "./interactions";

/** What one write of a batch did. */
export interface StoreResult {
  stored: number;
  duplicates: number;
  /** Valid events the database cannot take (e.g. an unknown member); they are dead-lettered. */
  rejected: Rejected[];
}

/** How one topic's events are validated and written. Each store call is one database write. */
export interface TopicStore<S extends z.ZodType = z.ZodType> {
  schema: S;
  store(events: Decoded<z.infer<S>>[]): Promise<StoreResult>;
}

/** Interactions go through the writer every write path shares, which announces the new ones. */
export function interactionStore(writer: InteractionWriter): TopicStore<typeof interactionEvent> {
  return {
    schema: interactionEvent,
    async store(decoded) {
      const result = await writer.storeKnown(decoded.map((d) => d.event));
      return {
        stored: result.stored.length,
        duplicates: result.duplicates,
        rejected: result.rejected.map((r) => ({ message: decoded[r.index].message, reason: r.reason })),
      };
    },
  };
}

// Upserts by id: a repeated member or item event writes the same row again, so it counts as stored.
function upsertStore<S extends z.ZodType>(
  schema: S,
  upsert: (events: z.infer<S>[]) => Promise<void>,
): TopicStore<S> {
  return {
    schema,
    async store(decoded) {
      await upsert(decoded.map((d) => d.event));
      return { stored: decoded.length, duplicates: 0, rejected: [] };
    },
  };
}

export const memberStore = (db: Db) => upsertStore(memberEvent, (events) => upsertMembers(db, events));
export const itemStore = (db: Db) => upsertStore(itemEvent, (events) => upsertItems(db, events));
