import { Lru } from "../util/lru";
import type { TextTokenizer } from "./tokenizer";

/** Token ids of every text, through `cache` when there is one. */
export function encodePieces(
  tokenizer: TextTokenizer,
  texts: string[],
  cache?: TokenCache,
): Promise<number[][]> {
  return cache ? cache.encodeMany(tokenizer, texts) : tokenizer.encodeMany(texts);
}

/**
 * Token ids of short prompt pieces (candidate suffixes, answer labels, explanation cues) by their
 * exact text. The same items are ranked again and again, for many members: a hit skips a call
 * into the tokenizer, and a ranking whose pieces all hit makes none. Returned arrays are shared:
 * callers copy before changing them.
 */
export class TokenCache {
  private readonly lru: Lru<number[]>;

  constructor(maxEntries: number) {
    this.lru = new Lru(maxEntries);
  }

  /** Token ids of every text, in order; the misses are tokenized in one batch. */
  async encodeMany(tokenizer: TextTokenizer, texts: string[]): Promise<number[][]> {
    const out: number[][] = new Array(texts.length);
    const missing: number[] = [];
    texts.forEach((text, i) => {
      const hit = this.lru.get(text);
      if (hit) out[i] = hit;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const ids = await tokenizer.encodeMany(missing.map((i) => texts[i]));
      missing.forEach((i, k) => {
        out[i] = ids[k];
        this.lru.set(texts[i], ids[k]);
      });
    }
    return out;
  }

  get size(): number {
    return this.lru.size;
  }
}
