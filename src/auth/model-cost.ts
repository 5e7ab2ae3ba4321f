import type { RootField } from "./policy";

export interface ModelCostDefaults {
  /** Candidates ranked when a query names none (RETRIEVAL_LIMIT). */
  retrievalLimit: number;
  /** Tokens of an explanation that sets no maxTokens (EXPLANATION_MAX_TOKENS). */
  explanationTokens: number;
}

/**
 * The model work an operation asks of the sidecars, in one unit: a candidate scored or a token
 * generated. Scoring a candidate prefills its suffix (some tens of tokens, batched with the others
 * behind one shared prefix); generating a token is one decode step: the same order of cost on
 * the sidecar. Fields that do no model work cost nothing here (graphql-armor's structural cost
 * limits them).
 */
export function modelCost(fields: readonly RootField[], d: ModelCostDefaults): number {
  let cost = 0;
  for (const { coordinate, args } of fields) {
    const candidates = Array.isArray(args.candidateIds) ? args.candidateIds.length : d.retrievalLimit;
    switch (coordinate) {
      case "Query.recommendations":
      case "Subscription.livePredictions":
        cost += candidates;
        break;
      case "Query.prompt":
        // Rendered and tokenized, not scored: a tenth of a ranking's work per candidate.
        cost += Math.ceil(candidates / 10);
        break;
      case "Subscription.explanation":
        cost += typeof args.maxTokens === "number" ? args.maxTokens : d.explanationTokens;
        break;
    }
  }
  return cost;
}
