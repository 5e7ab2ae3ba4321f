import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer } from "tokenizers";
import { checkSplit } from "./split-check";

/**
 * The tokenizer cannot tokenize a prompt as a shared prefix plus separate suffixes and labels and
 * get the ids the whole prompt gets: a SentencePiece model whose merges cross the line break that
 * ends the prefix, for one. The message names the tokenizer file and the first difference.
 */
export class TokenizerSplitError extends Error {}

/**
 * The model's own tokenizer (tokenizer.json through Hugging Face `tokenizers`). The gateway owns
 * tokenization; the sidecar only sees ids.
 */
export class TextTokenizer {
  /** Ids of each context that pieces were encoded after (`encodeMany`'s `after`). */
  private readonly contextIds = new Map<string, Promise<number[]>>();

  private constructor(
    private readonly tk: Tokenizer,
    /** The tokenizer.json it was loaded from, for messages. */
    readonly path: string,
    /**
     * Ids the tokenizer itself puts before a text (BOS for Llama 3, nothing for Qwen), read from
     * its own post-processor so prompts start exactly as Hugging Face would start them. Special
     * tokens it puts after a text (BERT's [SEP], an EOS some Llama configs add) are not part of a
     * prompt that the model continues, and are left out.
     */
    readonly leadingSpecialIds: number[],
    /** Id that ends generation. */
    readonly eosId: number | null,
    readonly vocabSize: number,
  ) {}

  /**
   * Loads tokenizer.json; EOS comes from tokenizer_config.json beside it when present
   * (`eos_token`, as Hugging Face writes it), else from config.json's id. Refuses (with a
   * TokenizerSplitError) a tokenizer whose prompts cannot be tokenized as a shared prefix and
   * separate suffixes: see split-check.ts.
   */
  static async fromFile(path: string): Promise<TextTokenizer> {
    let tk: Tokenizer;
    try {
      tk = Tokenizer.fromFile(path);
    } catch (err) {
      throw new Error(`cannot load tokenizer ${path}: ${(err as Error).message}`);
    }
    const dir = dirname(path);
    const cfg = await readJson(join(dir, "tokenizer_config.json"));
    const modelCfg = await readJson(join(dir, "config.json"));
    const idOf = (token: unknown, fallback: unknown): number | null => {
      const name = typeof token === "string" ? token : (token as { content?: string } | undefined)?.content;
      const id = name ? tk.tokenToId(name) : null;
      if (id !== null && id !== undefined) return id;
      return typeof fallback === "number" ? fallback : null;
    };
    // The special tokens before the first token of a one-word text: a post-processor's template
    // may also add some after it, which encoding "" would mix in.
    const probe = await tk.encode("a", null, { addSpecialTokens: true });
    const firstOfText = probe.getSequenceIds().findIndex((s) => s !== null && s !== undefined);
    const leading = probe.getIds().slice(0, Math.max(firstOfText, 0));
    const tokenizer = new TextTokenizer(
      tk,
      path,
      leading,
      idOf(cfg?.eos_token, modelCfg?.eos_token_id),
      tk.getVocabSize(true),
    );
    const problem = await checkSplit(tokenizer);
    if (problem !== null) {
      throw new TokenizerSplitError(
        `tokenizer ${path} cannot be split into a shared prompt prefix and per-candidate suffixes: ${problem}`,
      );
    }
    return tokenizer;
  }

  /** Token ids of `text`, without special tokens. */
  async encode(text: string): Promise<number[]> {
    const enc = await this.tk.encode(text, null, { addSpecialTokens: false });
    return enc.getIds();
  }

  /**
   * Token ids of each text, without special tokens. With `after`, each text is tokenized as it
   * continues that context (the end of what precedes it in the prompt), and only its own ids are
   * returned: a SentencePiece tokenizer then adds no dummy "▁" in front of it, and a byte-level
   * one gives the same ids as without a context. Throws a TokenizerSplitError when the context's
   * own ids change with what follows it (a token crosses the join).
   */
  async encodeMany(texts: string[], after?: string): Promise<number[][]> {
    if (texts.length === 0) return [];
    if (!after) {
      const encs = await this.tk.encodeBatch(texts, { addSpecialTokens: false });
      return encs.map((e) => e.getIds());
    }
    const ctx = await this.idsOfContext(after);
    const encs = await this.tk.encodeBatch(
      texts.map((t) => after + t),
      { addSpecialTokens: false },
    );
    return encs.map((e, i) => {
      const ids = e.getIds();
      if (!startsWith(ids, ctx)) {
        throw new TokenizerSplitError(
          `tokenizer ${this.path}: ${JSON.stringify(texts[i])} cannot be tokenized apart from the ` +
            `${JSON.stringify(after)} before it: alone that context is ${JSON.stringify(this.tokens(ctx))}, ` +
            `followed by the text it begins ${JSON.stringify(this.tokens(ids.slice(0, ctx.length + 1)))}: ` +
            "a token joins the two, so the text's ids depend on what precedes it",
        );
      }
      return ids.slice(ctx.length);
    });
  }

  /** The vocabulary's names of `ids`, for messages and tests. */
  tokens(ids: number[]): string[] {
    return ids.map((id) => this.tk.idToToken(id) ?? `#${id}`);
  }

  decode(ids: number[], skipSpecialTokens = true): Promise<string> {
    return this.tk.decode(ids, skipSpecialTokens);
  }

  private idsOfContext(context: string): Promise<number[]> {
    let ids = this.contextIds.get(context);
    if (!ids) {
      ids = this.encode(context);
      this.contextIds.set(context, ids);
    }
    return ids;
  }
}

function startsWith(ids: number[], head: number[]): boolean {
  if (ids.length < head.length) return false;
  for (let i = 0; i < head.length; i++) if (ids[i] !== head[i]) return false;
  return true;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
