import type { InferenceClient } from "../inference/client";
import type { Normalize, Timings, Usage } from "../inference/types";
import type { BuiltPrompt } from "../prompt/builder";
import { type RankedCandidate, rankCandidates } from "./rank";

export interface ScoredPrompt {
  /** Every candidate of the prompt, ranked. */
  ranked: RankedCandidate[];
  usage: Usage;
  timings: Timings;
}

/**
 * How the sidecar should normalize the labels' log-probabilities. A ranking needs only the answers'
 * probabilities renormalized over the task's answers, for which the vocabulary-wide normalizer
 * cancels: over the labels alone the sidecar computes the output layer for the label rows only
 * (2 rows instead of 151,936 on a Qwen3 vocabulary). Full-vocabulary log-probs are computed when
 * the caller asks for them, and for multi-token answers (whose later tokens are scored one step
 * at a time on full rows).
 */
export function normalizeFor(prompt: BuiltPrompt, logprobs: boolean): Normalize {
  return logprobs || prompt.labels.some((l) => l.ids.length !== 1) ? "FULL_VOCAB" : "LABELS_ONLY";
}

/**
 * The one Score call of a ranking: every candidate suffix after the shared prefix, scored on the
 * task's answer labels, then ranked by the positive answers' mass. Served rankings and offline
 * evaluation both score through here.
 */
export async function scorePrompt(
  client: InferenceClient,
  requestId: string,
  prompt: BuiltPrompt,
  /** The member: their calls go to the sidecar that holds their prefix (InferenceClient routing). */
  memberId: string,
  signal?: AbortSignal,
  /** Whether the caller needs each answer's full-vocabulary log-probability (the `logprob` field). */
  logprobs = false,
): Promise<ScoredPrompt> {
  const normalize = normalizeFor(prompt, logprobs);
  const res = await client.score(
    {
      requestId,
      prefixIds: prompt.prefixIds,
      candidates: prompt.candidates.map((c) => ({ id: c.id, ids: c.ids })),
      labels: prompt.labels.map((l) => ({ name: l.answer, ids: l.ids })),
      normalize,
    },
    { signal, routeKey: memberId },
  );
  const ranked = rankCandidates(prompt.labels, res.candidates, normalize === "FULL_VOCAB");
  return { ranked, usage: res.usage, timings: res.timings };
}
