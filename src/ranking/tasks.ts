import type { Db } from "../db/client";
import { upsertTask } from "../db/tasks";
import { type TaskDefinition, taskDefinition } from "../domain/task-definition";
import { parseInput } from "../domain/validate";
import type { TaskCache } from "./task-cache";

/**
 * Creates or replaces a task from client input (BAD_USER_INPUT naming the field at fault), and
 * makes this replica's rankings see it at once; other replicas see it within their cache's TTL.
 */
export async function saveTask(db: Db, cache: TaskCache, input: unknown): Promise<TaskDefinition> {
  const task = await upsertTask(db, parseInput(taskDefinition, input, "input"));
  cache.invalidate(task.name);
  return task;
}
