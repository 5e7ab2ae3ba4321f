import { Lru } from "../util/lru";
import { SUFFIX_CONTEXT } from "./template";
import type { TextTokenizer } from "./tokenizer";

/**
 * Token ids of every text as it continues `after` in a prompt (TextTokenizer.encodeMany), through
 * `cache` when there is one. Pieces follow the prompt prefix unless told otherwise.
 */
export function encodePieces(
  tokenizer: TextTokenizer,
  texts: string[],
  cache?: TokenCache,
  after: string = SUFFIX_CONTEXT,
): Promise<number[][]> {
  return cache ? cache.encodeMany(tokenizer, texts, after) : tokenizer.encodeMany(texts, after);
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

  /**
   * Token ids of every text as it continues `after`, in order; the misses are tokenized in one
   * batch. Texts after the prompt prefix are keyed by themselves, others by context and text.
   */
  async encodeMany(
    tokenizer: TextTokenizer,
    texts: string[],
    after: string = SUFFIX_CONTEXT,
  ): Promise<number[][]> {
    const out: number[][] = new Array(texts.length);
    const missing: number[] = [];
    const keys = after === SUFFIX_CONTEXT ? texts : texts.map((t) => `${after}\u0000${t}`);
    keys.forEach((key, i) => {
      const hit = this.lru.get(key);
      if (hit) out[i] = hit;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const ids = await tokenizer.encodeMany(
        missing.map((i) => texts[i]),
        after,
      );
      missing.forEach((i, k) => {
        out[i] = ids[k];
        this.lru.set(keys[i], ids[k]);
      });
    }
    return out;
  }

  get size(): number {
    return this.lru.size;
  }
}
