import type { PromptLabel } from "../prompt/builder";

export interface ActionProbability {
  action: string;
  answer: string;
  positive: boolean;
  /**
   * Natural-log probability of the answer's tokens after the prompt (full-vocabulary softmax);
   * null when the ranking was scored over the answers alone (`rankCandidates`' fullVocab false).
   */
  logprob: number | null;
  /** Probability of this answer among the task's answers (renormalized over them). */
  probability: number;
}

export interface RankedCandidate {
  itemId: string;
  /** 1 = best. */
  rank: number;
  /** Probability mass of the task's positive answers: what the ranking sorts by. */
  score: number;
  actions: ActionProbability[];
}

/**
 * Turns per-label log-probabilities into a ranking. The model's probabilities of the answer words
 * are renormalized over the task's answers (they are a small part of the whole vocabulary's mass),
 * and a candidate's score is the mass on the positive answers, as 360Brew scores from the answer
 * tokens' logits. Ties keep the order the candidates came in.
 */
export function rankCandidates(
  labels: PromptLabel[],
  scored: { id: string; labelLogprobs: number[] }[],
  /** Whether labelLogprobs are over the whole vocabulary (else renormalized over the labels). */
  fullVocab = true,
): RankedCandidate[] {
  const rows = scored.map((c, order) => {
    if (c.labelLogprobs.length !== labels.length) {
      throw new Error(
        `candidate ${c.id}: ${c.labelLogprobs.length} label log-probabilities for ${labels.length} labels`,
      );
    }
    const max = Math.max(...c.labelLogprobs);
    const weights = c.labelLogprobs.map((lp) => Math.exp(lp - max));
    const total = weights.reduce((a, b) => a + b, 0);
    const actions = labels.map((l, i) => ({
      action: l.action,
      answer: l.answer,
      positive: l.positive,
      logprob: fullVocab ? c.labelLogprobs[i] : null,
      probability: weights[i] / total,
    }));
    const score = actions.filter((a) => a.positive).reduce((a, b) => a + b.probability, 0);
    return { itemId: c.id, score, actions, order };
  });
  rows.sort((a, b) => b.score - a.score || a.order - b.order);
  return rows.map(({ order: _order, ...r }, i) => ({ ...r, rank: i + 1 }));
}
