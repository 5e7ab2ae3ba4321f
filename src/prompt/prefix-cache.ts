import { createHash } from "node:crypto";
import { Lru } from "./lru";

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
  static key(fullText: string, budget: number): string {
    return createHash("sha256").update(fullText).update(`\u0000${budget}`).digest("base64url");
  }
}
