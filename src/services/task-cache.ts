import type { Db } from "../db/client";
import type { TaskDefinition } from "../prompt/task-definition";
import { getTask } from "./tasks";

/** The task through `cache` when there is one, else straight from the database. */
export function readTask(db: Db, name: string, cache?: TaskCache): Promise<TaskDefinition> {
  return cache ? cache.get(db, name) : getTask(db, name);
}

/**
 * Task definitions read on the ranking path, kept for `ttlMs`. Tasks change rarely and only
 * through `upsertTask`: this process forgets its copy at once, other replicas within `ttlMs`.
 * A failed or empty read is not kept. `ttlMs` 0 reads the database every time.
 */
export class TaskCache {
  private readonly entries = new Map<string, { task: Promise<TaskDefinition>; expires: number }>();

  constructor(private readonly ttlMs: number) {}

  get(db: Db, name: string): Promise<TaskDefinition> {
    if (this.ttlMs <= 0) return getTask(db, name);
    const now = Date.now();
    const hit = this.entries.get(name);
    if (hit && hit.expires > now) return hit.task;
    const task = getTask(db, name);
    this.entries.set(name, { task, expires: now + this.ttlMs });
    task.catch(() => {
      if (this.entries.get(name)?.task === task) this.entries.delete(name);
    });
    return task;
  }

  /** Forgets `name`: the next read goes to the database. */
  invalidate(name: string): void {
    this.entries.delete(name);
  }
}
