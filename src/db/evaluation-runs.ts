import type { EvaluationRun } from "@prisma/client";
import type { Db } from "./client";

/** An evaluation run without its report (what run lists and comparisons need). */
export type EvaluationRunSummary = Omit<EvaluationRun, "report">;

const SUMMARY = {
  id: true,
  taskName: true,
  model: true,
  promptVersion: true,
  source: true,
  dataFrom: true,
  dataTo: true,
  impressions: true,
  positions: true,
  metrics: true,
  createdAt: true,
} as const;

export async function saveEvaluationRun(
  db: Db,
  run: Omit<EvaluationRun, "createdAt"> & { createdAt?: Date },
): Promise<EvaluationRun> {
  return db.evaluationRun.create({ data: { ...run, metrics: run.metrics ?? {} } });
}

/** The task's runs, newest first (all tasks when `taskName` is unset). */
export async function listEvaluationRuns(
  db: Db,
  opts: { taskName?: string; limit?: number } = {},
): Promise<EvaluationRunSummary[]> {
  return db.evaluationRun.findMany({
    where: opts.taskName ? { taskName: opts.taskName } : {},
    orderBy: { createdAt: "desc" },
    take: opts.limit ?? 50,
    select: SUMMARY,
  });
}

/** The newest run with its HTML report (of the task, when given); null when there is none. */
export async function latestEvaluationRun(db: Db, taskName?: string): Promise<EvaluationRun | null> {
  return db.evaluationRun.findFirst({
    where: taskName ? { taskName } : {},
    orderBy: { createdAt: "desc" },
  });
}

/** One run with its HTML report; null when there is no run of that id. */
export async function evaluationRunById(db: Db, id: string): Promise<EvaluationRun | null> {
  return db.evaluationRun.findUnique({ where: { id } });
}
