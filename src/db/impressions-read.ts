import type { Impression } from "@prisma/client";
import { REQUEST_LIMITS } from "../config/limits";
import { badInput } from "../domain/errors";
import type { ImpressionRecord } from "../domain/impression";
import type { Db } from "./client";
import { outcomesOf, type PositionOutcome } from "./outcomes";

/** The interaction attributed to a shown position (src/db/outcomes.ts has the rule). */
export interface Outcome {
  action: string;
  eventId: string;
  occurredAt: Date;
  attribution: "explicit" | "window";
}

/** One shown position as it was served, and what came of it. */
export type ShownPosition = ImpressionRecord["candidates"][number] & { outcome: Outcome | null };

/** A stored impression with its positions in rank order, each with its outcome or null. */
export type ImpressionWithOutcomes = Omit<ImpressionRecord, "candidates"> & { positions: ShownPosition[] };

/** An impression by id, with its outcomes; null when none is stored (yet: it is written behind its answer). */
export async function findImpressionWithOutcomes(
  db: Db,
  id: string,
  windowMs: number,
): Promise<ImpressionWithOutcomes | null> {
  const row = await db.impression.findUnique({ where: { id } });
  if (!row) return null;
  const [found] = await withOutcomes(db, [row], windowMs);
  return found;
}

export interface ImpressionListArgs {
  memberId: string;
  /** Only this task's impressions; all tasks when null or absent. */
  taskName?: string | null;
  /** 1 to REQUEST_LIMITS.maxPageSize; over or under is BAD_USER_INPUT. */
  first: number;
}

/**
 * A member's latest `first` impressions, newest first (ties by id, descending), with their
 * outcomes: one read of the impressions (the (memberId, createdAt DESC) index) and one outcome
 * query for all of them.
 */
export async function listImpressionsWithOutcomes(
  db: Db,
  args: ImpressionListArgs,
  windowMs: number,
): Promise<ImpressionWithOutcomes[]> {
  const max = REQUEST_LIMITS.maxPageSize;
  if (!Number.isInteger(args.first) || args.first < 1 || args.first > max) {
    throw badInput(`first must be between 1 and ${max}, got ${args.first}`, { argument: "first" });
  }
  const rows = await db.impression.findMany({
    where: { memberId: args.memberId, ...(args.taskName ? { taskName: args.taskName } : {}) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: args.first,
  });
  return withOutcomes(db, rows, windowMs);
}

/** Joins each row's served positions (its `candidates`) to outcomesOf's answer for them, by rank. */
async function withOutcomes(db: Db, rows: Impression[], windowMs: number): Promise<ImpressionWithOutcomes[]> {
  if (rows.length === 0) return [];
  const outcomes = new Map<string, PositionOutcome>();
  for (const o of await outcomesOf(
    db,
    rows.map((r) => r.id),
    windowMs,
  )) {
    outcomes.set(`${o.impressionId}\u0000${o.rank}`, o);
  }
  return rows.map(({ candidates, ...impression }) => ({
    ...impression,
    positions: (candidates as ImpressionRecord["candidates"]).map((shown) => ({
      ...shown,
      outcome: toOutcome(outcomes.get(`${impression.id}\u0000${shown.rank}`)),
    })),
  }));
}

function toOutcome(o: PositionOutcome | undefined): Outcome | null {
  if (!o || o.attribution === null || o.action === null || o.eventId === null || o.occurredAt === null) {
    return null;
  }
  return { action: o.action, eventId: o.eventId, occurredAt: o.occurredAt, attribution: o.attribution };
}
