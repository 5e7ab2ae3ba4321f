import type { TextTokenizer } from "./tokenizer";

/**
 * Turns a stream of token ids into text deltas without ever splitting a UTF-8 character: a
 * byte-level token can carry half of one, which decodes to U+FFFD until the rest arrives. Each
 * step decodes a short window (from a few tokens back, so merges at the seam decode as they
 * would in the full text) and emits only what is new and complete.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  /** Start of the window decoded at each step. */
  private prefixOffset = 0;
  /** End of the text already emitted, in tokens. */
  private readOffset = 0;

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Adds one token; returns the text it completes ("" while a character is still partial). */
  async push(id: number): Promise<string> {
    this.ids.push(id);
    const [before, after] = await this.decodeWindow();
    if (after.length <= before.length || after.endsWith("\uFFFD")) return "";
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return after.slice(before.length);
  }

  /** Whatever is left at the end of the stream (an incomplete character decodes as U+FFFD). */
  async flush(): Promise<string> {
    if (this.readOffset === this.ids.length) return "";
    const [before, after] = await this.decodeWindow();
    this.prefixOffset = this.readOffset = this.ids.length;
    return after.slice(before.length);
  }

  /** The text emitted so far within the window, and the whole window's text. */
  private decodeWindow(): Promise<[string, string]> {
    const emitted = this.ids.slice(this.prefixOffset, this.readOffset);
    return Promise.all([
      // Nothing emitted in the window yet (the first token): no call into the tokenizer.
      emitted.length === 0 ? "" : this.tokenizer.decode(emitted),
      this.tokenizer.decode(this.ids.slice(this.prefixOffset)),
    ]);
  }
}
