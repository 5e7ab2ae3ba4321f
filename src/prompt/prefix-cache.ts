import { createHash } from "node:crypto";
import { Lru } from "../util/lru";

export interface CachedPrefix {
  text: string;
  ids: number[];
  kept: number;
}

/**
 * Tokenized prompt prefixes by content, least recently used out first. A member ranked again with
 * unchanged profile, history and budget (the common case: paging, live re-scoring of other
 * candidates) skips tokenizing a prefix of thousands of tokens and the search for its cut. The
 * key is a hash of the full uncut text and the budget, so a hit is exactly what a miss would build.
 */
export class PrefixCache extends Lru<CachedPrefix> {
  private readonly building = new Map<string, Promise<CachedPrefix>>();

  static key(fullText: string, budget: number): string {
    return createHash("sha256").update(fullText).update(`\u0000${budget}`).digest("base64url");
  }

  /**
   * The prefix kept for `key`; else the one already being built for it (a burst of requests for
   * one member tokenizes its prefix once); else `build()`'s, kept when it succeeds.
   */
  getOrBuild(key: string, build: () => Promise<CachedPrefix>): Promise<CachedPrefix> {
    const hit = this.get(key);
    if (hit) return Promise.resolve(hit);
    const pending = this.building.get(key);
    if (pending) return pending;
    const built = build()
      .then((prefix) => {
        this.set(key, prefix);
        return prefix;
      })
      .finally(() => this.building.delete(key));
    this.building.set(key, built);
    return built;
  }
}
