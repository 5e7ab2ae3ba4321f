import { randomUUID } from "node:crypto";
import { type Db, sql } from "../db/client";
import type { RankedCandidate } from "./ranking";

export interface ImpressionRecord {
  id: string;
  requestId: string;
  memberId: string;
  taskName: string;
  model: string;
  createdAt: Date;
  /** What was shown, in rank order, with each action's probability. */
  candidates: { itemId: string; rank: number; score: number; probabilities: Record<string, number> }[];
}

/** Somewhere served rankings are announced (the impressions Kafka topic), a batch at a time. */
export type ImpressionPublisher = (impressions: ImpressionRecord[]) => Promise<void>;

/** Where a served ranking goes to be recorded; throws when it cannot take one now. */
export interface ImpressionSink {
  record(impression: ImpressionRecord): void;
}

/** What was shown to whom, in rank order, so outcomes can be joined to it later. */
export function toImpression(shown: {
  requestId: string;
  memberId: string;
  taskName: string;
  model: string;
  candidates: RankedCandidate[];
}): ImpressionRecord {
  return {
    id: randomUUID(),
    requestId: shown.requestId,
    memberId: shown.memberId,
    taskName: shown.taskName,
    model: shown.model,
    createdAt: new Date(),
    candidates: shown.candidates.map((c) => ({
      itemId: c.itemId,
      rank: c.rank,
      score: c.score,
      probabilities: Object.fromEntries(c.actions.map((a) => [a.action, a.probability])),
    })),
  };
}

/**
 * Writes impressions in one statement. Ids already stored are left as they are, so a batch whose
 * first attempt committed without its answer reaching the gateway can be written again safely.
 */
export async function insertImpressions(db: Db, batch: ImpressionRecord[]): Promise<void> {
  await sql(
    db,
    `INSERT INTO "Impression" ("id", "requestId", "memberId", "taskName", "model", "createdAt", "candidates")
     -- UTC, as Prisma stores DateTime, whatever the session's time zone
     SELECT u.id, u.request, u.member, u.task, u.model, (u.at AT TIME ZONE 'UTC'), u.shown::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
       AS u(id, request, member, task, model, at, shown)
     ON CONFLICT ("id") DO NOTHING`,
    [
      batch.map((i) => i.id),
      batch.map((i) => i.requestId),
      batch.map((i) => i.memberId),
      batch.map((i) => i.taskName),
      batch.map((i) => i.model),
      batch.map((i) => i.createdAt.toISOString()),
      batch.map((i) => JSON.stringify(i.candidates)),
    ],
  );
}
