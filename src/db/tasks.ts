import type { Prisma, Task } from "@prisma/client";
import { notFound } from "../domain/errors";
import {
  JOB_APPLY_TASK,
  JOB_SAVE_TASK,
  type TaskDefinition,
  taskDefinition,
} from "../domain/task-definition";
import type { Db } from "./client";

/** A stored task back into its definition; a row that no longer parses is a server bug. */
export function toDefinition(row: Task): TaskDefinition {
  return taskDefinition.parse({
    name: row.name,
    instruction: row.instruction,
    note: row.note,
    itemType: row.itemType,
    itemNoun: row.itemNoun,
    itemNounPlural: row.itemNounPlural,
    questionVerb: row.questionVerb,
    actions: row.actions,
    historyPolicy: row.historyPolicy,
  });
}

export async function getTask(db: Db, name: string): Promise<TaskDefinition> {
  const row = await db.task.findUnique({ where: { name } });
  if (!row) throw notFound("Task", name);
  return toDefinition(row);
}

export async function listTasks(db: Db): Promise<TaskDefinition[]> {
  const rows = await db.task.findMany({ orderBy: { name: "asc" } });
  return rows.map(toDefinition);
}

function columns(t: TaskDefinition) {
  return {
    instruction: t.instruction,
    note: t.note ?? null,
    itemType: t.itemType,
    itemNoun: t.itemNoun,
    itemNounPlural: t.itemNounPlural,
    questionVerb: t.questionVerb,
    actions: t.actions as unknown as Prisma.InputJsonValue,
    historyPolicy: t.historyPolicy as unknown as Prisma.InputJsonValue,
  };
}

export async function upsertTask(db: Db, t: TaskDefinition): Promise<TaskDefinition> {
  const row = await db.task.upsert({
    where: { name: t.name },
    create: { name: t.name, ...columns(t) },
    update: columns(t),
  });
  return toDefinition(row);
}

/** Creates the built-in tasks that do not exist yet; never overwrites an edited one. */
export async function ensureDefaultTasks(db: Db): Promise<void> {
  for (const t of [JOB_APPLY_TASK, JOB_SAVE_TASK]) {
    await db.task.upsert({ where: { name: t.name }, create: { name: t.name, ...columns(t) }, update: {} });
  }
}
