import type { InferenceClient } from "../inference/client";
import type { Timings, Usage } from "../inference/types";
import type { BuiltPrompt } from "../prompt/builder";
import { type RankedCandidate, rankCandidates } from "./rank";

export interface ScoredPrompt {
  /** Every candidate of the prompt, ranked. */
  ranked: RankedCandidate[];
  usage: Usage;
  timings: Timings;
}

/**
 * The one Score call of a ranking: every candidate suffix after the shared prefix, scored on the
 * task's answer labels over the full vocabulary, then ranked by the positive answers' mass. Served
 * rankings and offline evaluation both score through here.
 */
export async function scorePrompt(
  client: InferenceClient,
  requestId: string,
  prompt: BuiltPrompt,
  /** The member: their calls go to the sidecar that holds their prefix (InferenceClient routing). */
  memberId: string,
  signal?: AbortSignal,
): Promise<ScoredPrompt> {
  const res = await client.score(
    {
      requestId,
      prefixIds: prompt.prefixIds,
      candidates: prompt.candidates.map((c) => ({ id: c.id, ids: c.ids })),
      labels: prompt.labels.map((l) => ({ name: l.answer, ids: l.ids })),
      normalize: "FULL_VOCAB",
    },
    { signal, routeKey: memberId },
  );
  return { ranked: rankCandidates(prompt.labels, res.candidates), usage: res.usage, timings: res.timings };
}
