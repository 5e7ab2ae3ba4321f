import type { Db } from "../db/client";
import { getTask } from "../db/tasks";
import type { TaskDefinition } from "../domain/task-definition";

/** The task through `cache` when there is one, else straight from the database. */
export function readTask(db: Db, name: string, cache?: TaskCache): Promise<TaskDefinition> {
  return cache ? cache.get(db, name) : getTask(db, name);
}

interface Entry {
  task: Promise<TaskDefinition>;
  /** When the copy expires; Infinity while its read is in flight (nothing to refresh yet). */
  expires: number;
  refreshing: boolean;
}

/**
 * Task definitions read on the ranking path, kept for `ttlMs`. Tasks change rarely and only
 * through `upsertTask`: this process forgets its copy at once, other replicas within `ttlMs`
 * and one read. An expired copy is refreshed off the request path: the request that finds it
 * expired starts one read and is answered from the copy, as are the requests during that read;
 * the read's result replaces the copy. A failed or empty read is not kept (a failed refresh drops
 * the copy: the next request reads, and sees the error). `ttlMs` 0 reads the database every time.
 */
export class TaskCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs: number) {}

  get(db: Db, name: string): Promise<TaskDefinition> {
    if (this.ttlMs <= 0) return getTask(db, name);
    const hit = this.entries.get(name);
    if (!hit) return this.read(db, name).task;
    if (hit.expires <= Date.now() && !hit.refreshing) {
      hit.refreshing = true;
      this.read(db, name, hit);
    }
    return hit.task;
  }

  /** Forgets `name`: the next read goes to the database. */
  invalidate(name: string): void {
    this.entries.delete(name);
  }

  /**
   * Reads `name`. With no `stale` copy the entry is stored at once, so concurrent misses share
   * one read; a refresh is stored when it succeeds, if `stale` is still the entry then.
   */
  private read(db: Db, name: string, stale?: Entry): Entry {
    const entry: Entry = { task: getTask(db, name), expires: Number.POSITIVE_INFINITY, refreshing: false };
    if (!stale) this.entries.set(name, entry);
    // Also handles a failed refresh's rejection, which no request awaits.
    entry.task.then(
      () => {
        entry.expires = Date.now() + this.ttlMs;
        if (stale && this.entries.get(name) === stale) this.entries.set(name, entry);
      },
      () => {
        const current = this.entries.get(name);
        if (current === entry || current === stale) this.entries.delete(name);
      },
    );
    return entry;
  }
}
