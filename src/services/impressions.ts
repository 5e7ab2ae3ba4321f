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

/** Somewhere a served ranking is announced (the impressions Kafka topic). */
export type ImpressionPublisher = (impression: ImpressionRecord) => Promise<void>;

/** Records what was shown to whom, in rank order, so outcomes can be joined to it later. */
export async function recordImpression(
  db: Db,
  publish: ImpressionPublisher | null,
  shown: {
    requestId: string;
    memberId: string;
    taskName: string;
    model: string;
    candidates: RankedCandidate[];
  },
): Promise<ImpressionRecord> {
  const impression: ImpressionRecord = {
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
  // A plain INSERT on the pool: the served ranking is on the request's path, and the model API's
  // create (which reads the row back) costs it about 4 ms more.
  const i = impression;
  await sql(
    db,
    `INSERT INTO "Impression" ("id", "requestId", "memberId", "taskName", "model", "createdAt", "candidates")
     -- UTC, as Prisma stores DateTime, whatever the session's time zone
     VALUES ($1, $2, $3, $4, $5, ($6::timestamptz AT TIME ZONE 'UTC'), $7::jsonb)`,
    [
      i.id,
      i.requestId,
      i.memberId,
      i.taskName,
      i.model,
      i.createdAt.toISOString(),
      JSON.stringify(i.candidates),
    ],
  );
  if (publish) await publish(impression);
  return impression;
}
