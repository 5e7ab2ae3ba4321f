import type { Message } from "kafkajs";

export type EventKind = "valid" | "early" | "bad_json" | "bad_schema" | "duplicate";

export interface PlanOptions {
  /** Prefix of every event id, unique per run. */
  run: string;
  events: number;
  members: number;
  items: number;
  /** Per hundred events, how many name a member not stored yet (`lateMember(i)`, produced later). */
  earlyPerHundred?: number;
}

/** The member an early event names: one of its own, produced to the members topic after it. */
export const lateMember = (run: string, i: number) => `${run}-late-${i}`;

/**
 * The benchmark's event stream. Event i's kind is fixed by i (per hundred: one bad JSON, one
 * schema failure, one repeat of an earlier event), so the expected counts are exact.
 */
export function plan({ run, events, members, items, earlyPerHundred = 0 }: PlanOptions) {
  const kinds: EventKind[] = [];
  for (let i = 0; i < events; i++) {
    const r = i % 100;
    kinds.push(
      r === 0
        ? "bad_json"
        : r === 1
          ? "bad_schema"
          : r === 2 && i >= 100
            ? "duplicate"
            : r >= 3 && r < 3 + earlyPerHundred
              ? "early"
              : "valid",
    );
  }
  const event = (i: number) => ({
    eventId: `${run}-${i}`,
    memberId: kinds[i] === "early" ? lateMember(run, i) : `bm-${i % members}`,
    itemId: `bi-${(i * 7) % items}`,
    action: i % 3 === 0 ? "APPLY" : "VIEW",
    surface: "feed",
    occurredAt: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
  });
  const message = (i: number, timestamp: string): Message => {
    const kind = kinds[i];
    // A repeat sends the valid event 50 positions earlier again (same key, same value).
    const e = event(kind === "duplicate" ? i - 50 : i);
    const value =
      kind === "bad_json"
        ? `{"eventId": "${e.eventId}", "memberId": `
        : kind === "bad_schema"
          ? JSON.stringify({ ...e, occurredAt: "not a date" })
          : JSON.stringify(e);
    return { key: e.memberId, value, timestamp };
  };
  const early = kinds.flatMap((k, i) => (k === "early" ? [i] : []));
  // Early events are valid: they are stored once their member is.
  const valid = kinds.filter((k) => k === "valid" || k === "early").length;
  const malformed = kinds.filter((k) => k === "bad_json" || k === "bad_schema").length;
  return { kinds, message, valid, early, malformed, duplicates: events - valid - malformed };
}
