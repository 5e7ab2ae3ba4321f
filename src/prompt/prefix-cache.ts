import { createHash } from "node:crypto";

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
export class PrefixCache {
  private readonly entries = new Map<string, CachedPrefix>();

  constructor(private readonly maxEntries: number) {}

  static key(fullText: string, budget: number): string {
    return createHash("sha256").update(fullText).update(`\u0000${budget}`).digest("base64url");
  }

  get(key: string): CachedPrefix | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedPrefix): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
