import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ModelCard {
  architecture: string | null;
  /** Set by the project's own checkpoint generator: the weights are random, the answers meaningless. */
  randomWeights: boolean;
  /** What the model is, in words (config.json's brewgate_description, written by training/train.py). */
  description: string | null;
  /** The longest sequence the model takes (max_position_embeddings), when config.json says. */
  maxContext: number | null;
  /**
   * The prompt prefix budget the model was trained with (brewgate_prefix_tokens, written by
   * training/train.py --prefix-tokens): served prompts are cut to it, since a model trained on
   * short prompts ranks worse on longer ones.
   */
  prefixTokens: number | null;
}

/** What the gateway reads from a checkpoint's config.json (the sidecar reads the rest). */
export function readModelCard(modelDir: string): ModelCard {
  const path = join(modelDir, "config.json");
  let cfg: {
    architectures?: string[];
    brewgate_random_weights?: boolean;
    brewgate_description?: unknown;
    max_position_embeddings?: number;
    brewgate_prefix_tokens?: unknown;
  };
  try {
    cfg = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  return {
    architecture: cfg.architectures?.[0] ?? null,
    randomWeights: cfg.brewgate_random_weights === true,
    description: typeof cfg.brewgate_description === "string" ? cfg.brewgate_description : null,
    maxContext: typeof cfg.max_position_embeddings === "number" ? cfg.max_position_embeddings : null,
    prefixTokens:
      Number.isInteger(cfg.brewgate_prefix_tokens) && (cfg.brewgate_prefix_tokens as number) > 0
        ? (cfg.brewgate_prefix_tokens as number)
        : null,
  };
}

/** The prefix budget to serve a model with: `configured` (PROMPT_MAX_TOKENS), or the model's own (ModelCard.prefixTokens) when smaller. */
export function prefixBudget(configured: number, modelPrefixTokens: number | null | undefined): number {
  return modelPrefixTokens ? Math.min(configured, modelPrefixTokens) : configured;
}
