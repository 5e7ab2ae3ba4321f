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
}

/** What the gateway reads from a checkpoint's config.json (the sidecar reads the rest). */
export function readModelCard(modelDir: string): ModelCard {
  const path = join(modelDir, "config.json");
  let cfg: {
    architectures?: string[];
    brewgate_random_weights?: boolean;
    brewgate_description?: unknown;
    max_position_embeddings?: number;
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
  };
}
