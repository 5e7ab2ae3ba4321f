import { REQUEST_LIMITS } from "../config/limits";
import type { Db } from "../db/client";
import { findUnknownReferences, insertInteractions, type Rejection } from "../db/interactions";
import { badInput } from "../domain/errors";
import { describeIssues, type InteractionEvent, interactionEvent } from "../domain/events";

/** Hears of interactions that were new to the database (live predictions, tests). */
export type InteractionsListener = (events: InteractionEvent[]) => void | Promise<void>;

/** What one write of interactions did. */
export interface StoredInteractions {
  /** Events that were new, in order, each once. */
  stored: InteractionEvent[];
  /** Events whose id was stored before (a redelivery, a repeated call). */
  duplicates: number;
}

/**
 * The one path that stores interactions and announces them, whoever produced them: the Kafka
 * consumer (`storeKnown`: events naming an unknown member or item are handed back for the
 * dead-letter topic) and the mutation (`recordAll`: all or nothing). Each new interaction is
 * announced once, after it is stored; a listener's failure is reported to `onListenerError` and
 * never fails the write.
 */
export class InteractionWriter {
  constructor(
    private readonly db: Db,
    private readonly listeners: InteractionsListener[],
    private readonly onListenerError: (err: unknown) => void,
  ) {}

  /** Stores the events whose member and item exist; the others come back with the reason. */
  async storeKnown(events: InteractionEvent[]): Promise<StoredInteractions & { rejected: Rejection[] }> {
    const rejected = await findUnknownReferences(this.db, events);
    const skip = new Set(rejected.map((r) => r.index));
    const accepted = events.filter((_, i) => !skip.has(i));
    return { ...(await this.store(accepted)), rejected };
  }

  /**
   * Validates every event first (the schema, then the references), then stores them all, or
   * none: BAD_USER_INPUT names the first invalid event and counts the rest.
   */
  async recordAll(input: unknown[]): Promise<StoredInteractions & { received: number }> {
    const max = REQUEST_LIMITS.maxEventsPerCall;
    if (input.length === 0) throw badInput("events must not be empty", { argument: "events" });
    if (input.length > max) {
      throw badInput(`at most ${max} events per call, got ${input.length}`, { argument: "events" });
    }
    const events: InteractionEvent[] = [];
    const invalid: { index: number; reason: string }[] = [];
    input.forEach((raw, index) => {
      const parsed = interactionEvent.safeParse(raw);
      if (parsed.success) events.push(parsed.data);
      else invalid.push({ index, reason: describeIssues(parsed.error) });
    });
    if (invalid.length === 0) {
      for (const r of await findUnknownReferences(this.db, events))
        invalid.push({ index: r.index, reason: r.reason });
    }
    if (invalid.length > 0) {
      const first = invalid[0];
      const more = invalid.length > 1 ? ` (and ${invalid.length - 1} more)` : "";
      throw badInput(`events[${first.index}]: ${first.reason}${more}`, { argument: "events", invalid });
    }
    return { ...(await this.store(events)), received: events.length };
  }

  private async store(events: InteractionEvent[]): Promise<StoredInteractions> {
    const stored = await insertInteractions(this.db, events);
    if (stored.length > 0) await this.announce(stored);
    return { stored, duplicates: events.length - stored.length };
  }

  private async announce(events: InteractionEvent[]): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(events);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
