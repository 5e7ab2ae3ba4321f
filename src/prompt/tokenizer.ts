import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer } from "tokenizers";

/**
 * The model's own tokenizer (tokenizer.json through Hugging Face `tokenizers`). The gateway owns
 * tokenization; the sidecar only sees ids.
 */
export class TextTokenizer {
  private constructor(
    private readonly tk: Tokenizer,
    /**
     * Ids the tokenizer itself puts before a text (BOS for Llama 3, nothing for Qwen), read from
     * its own post-processor so prompts start exactly as Hugging Face would start them.
     */
    readonly leadingSpecialIds: number[],
    /** Id that ends generation. */
    readonly eosId: number | null,
    readonly vocabSize: number,
  ) {}

  /**
   * Loads tokenizer.json; EOS comes from tokenizer_config.json beside it when present
   * (`eos_token`, as Hugging Face writes it), else from config.json's id.
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
    const leading = (await tk.encode("", null, { addSpecialTokens: true })).getIds();
    return new TextTokenizer(
      tk,
      leading,
      idOf(cfg?.eos_token, modelCfg?.eos_token_id),
      tk.getVocabSize(true),
    );
  }

  /** Token ids of `text`, without special tokens. */
  async encode(text: string): Promise<number[]> {
    const enc = await this.tk.encode(text, null, { addSpecialTokens: false });
    return enc.getIds();
  }

  async encodeMany(texts: string[]): Promise<number[][]> {
    if (texts.length === 0) return [];
    const encs = await this.tk.encodeBatch(texts, { addSpecialTokens: false });
    return encs.map((e) => e.getIds());
  }

  decode(ids: number[], skipSpecialTokens = true): Promise<string> {
    return this.tk.decode(ids, skipSpecialTokens);
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
