import type { z } from "zod";
import type { Db } from "../db/client";
import { upsertItems } from "../db/items";
import { upsertMembers } from "../db/members";
import { interactionEvent, itemEvent, memberEvent } from "../domain/events";
import type { Source } from "./dead-letter";
import type { Decoded, Rejected } from "./decode";
import type { InteractionWriter } from "./interactions";
import type { Parking } from "./parking";

/** What one write of a batch did. */
export interface StoreResult {
  stored: number;
  duplicates: number;
  /** Valid events the database cannot take (e.g. an unknown member); they are dead-lettered. */
  rejected: Rejected[];
  /** Interactions parked until their member or item arrives (src/ingest/parking.ts). */
  parked: number;
}

/** How one topic's events are validated and written. Each store call is one database write. */
export interface TopicStore<S extends z.ZodType = z.ZodType> {
  schema: S;
  store(events: Decoded<z.infer<S>>[], source: Source): Promise<StoreResult>;
}

/**
 * Interactions go through the writer every write path shares, which announces the new ones. One
 * naming a member or item not stored yet is parked when `parking` is given (and dead-lettered
 * after its wait), else dead-lettered at once.
 */
export function interactionStore(
  writer: InteractionWriter,
  parking: Parking | null,
): TopicStore<typeof interactionEvent> {
  return {
    schema: interactionEvent,
    async store(decoded, source) {
      const result = await writer.storeKnown(decoded.map((d) => d.event));
      if (parking && result.rejected.length > 0) {
        await parking.park(decoded, new Map(result.rejected.map((r) => [r.index, r.reason])), source);
        return {
          stored: result.stored.length,
          duplicates: result.duplicates,
          rejected: [],
          parked: result.rejected.length,
        };
      }
      return {
        stored: result.stored.length,
        duplicates: result.duplicates,
        rejected: result.rejected.map((r) => ({ message: decoded[r.index].message, reason: r.reason })),
        parked: 0,
      };
    },
  };
}

// Upserts by id: a repeated member or item event writes the same row again, so it counts as stored.
// `onStored` hears of each stored batch (parked interactions may be waiting for it).
function upsertStore<S extends z.ZodType>(
  schema: S,
  upsert: (events: z.infer<S>[]) => Promise<void>,
  onStored: () => void,
): TopicStore<S> {
  return {
    schema,
    async store(decoded) {
      await upsert(decoded.map((d) => d.event));
      if (decoded.length > 0) onStored();
      return { stored: decoded.length, duplicates: 0, rejected: [], parked: 0 };
    },
  };
}

export const memberStore = (db: Db, onStored: () => void = () => {}) =>
  upsertStore(memberEvent, (events) => upsertMembers(db, events), onStored);
export const itemStore = (db: Db, onStored: () => void = () => {}) =>
  upsertStore(itemEvent, (events) => upsertItems(db, events), onStored);
