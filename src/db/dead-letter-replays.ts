import type { Db } from "./client";

export interface DeadLetterRef {
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: string;
}

/** Which of these dead letters were replayed before, as `partition:offset`. */
export async function replayedBefore(db: Db, topic: string, refs: DeadLetterRef[]): Promise<Set<string>> {
  if (refs.length === 0) return new Set();
  const rows = await db.deadLetterReplay.findMany({
    where: {
      dlqTopic: topic,
      OR: refs.map((r) => ({ dlqPartition: r.dlqPartition, dlqOffset: r.dlqOffset })),
    },
    select: { dlqPartition: true, dlqOffset: true },
  });
  return new Set(rows.map((r) => `${r.dlqPartition}:${r.dlqOffset}`));
}

export async function recordReplays(
  db: Db,
  rows: (DeadLetterRef & { targetTopic: string })[],
): Promise<void> {
  if (rows.length > 0) await db.deadLetterReplay.createMany({ data: rows, skipDuplicates: true });
}
