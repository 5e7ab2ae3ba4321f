import { requireInference } from "../inference/service";
import type { ExplanationDeps } from "../ranking/explain";
import { requireTokenizer } from "../ranking/prompts";
import type { RecommendationDeps } from "../ranking/recommend";
import type { GatewayContext } from "../server/context";

/** What a ranking needs from the context; UNAVAILABLE when no tokenizer or sidecar is configured. */
export function recommendationDeps(ctx: GatewayContext): RecommendationDeps {
  return {
    db: ctx.db,
    tokenizer: requireTokenizer(ctx.tokenizer),
    inference: requireInference(ctx.inference),
    impressions: ctx.impressions,
    maxPrefixTokens: ctx.config.PROMPT_MAX_TOKENS,
    retrievalLimit: ctx.config.RETRIEVAL_LIMIT,
    caches: ctx.caches,
    observer: ctx.observer,
  };
}

/** What an explanation needs from the context; UNAVAILABLE when no tokenizer or sidecar is configured. */
export function explanationDeps(ctx: GatewayContext): ExplanationDeps {
  return {
    db: ctx.db,
    tokenizer: requireTokenizer(ctx.tokenizer),
    inference: requireInference(ctx.inference),
    maxPrefixTokens: ctx.config.PROMPT_MAX_TOKENS,
    timeoutMs: ctx.config.GENERATE_TIMEOUT_MS,
    caches: ctx.caches,
    observer: ctx.observer,
  };
}
