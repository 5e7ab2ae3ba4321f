import { randomUUID } from "node:crypto";
import { EXPLANATION_PROMPT_SLACK_TOKENS, REQUEST_LIMITS } from "../config/limits";
import type { Db } from "../db/client";
import { badInput } from "../domain/errors";
import { outcomeOf, type RankingObserver, since } from "../domain/observer";
import type { InferenceService } from "../inference/service";
import type { FinishReason } from "../inference/types";
import { IncrementalDetokenizer } from "../prompt/detokenizer";
import { encodePieces } from "../prompt/token-cache";
import type { TextTokenizer } from "../prompt/tokenizer";
import { type PromptPathCaches, preparePrompt } from "./prompts";
import { rankCandidates } from "./rank";

export interface ExplanationRequest {
  memberId: string;
  taskName: string;
  itemId: string;
  maxTokens: number;
}

export interface ExplanationEvent {
  requestId: string;
  /** The answer being explained: the model's most likely one for this member and item. */
  answer: string;
  /** Its probability among the task's answers. */
  probability: number;
  /** New text since the previous event (never a partial UTF-8 character). */
  delta: string;
  done: boolean;
  finishReason: FinishReason | null;
}

export interface ExplanationDeps {
  db: Db;
  tokenizer: TextTokenizer;
  inference: InferenceService;
  maxPrefixTokens: number;
  timeoutMs: number;
  caches?: PromptPathCaches;
  /** Told each explanation's time to first text, latency and outcome (the metrics). */
  observer?: RankingObserver;
}

/** Checks what a client asked for before any work starts; BAD_USER_INPUT naming the argument. */
export function checkExplanationRequest(req: ExplanationRequest): ExplanationRequest {
  const max = REQUEST_LIMITS.maxExplanationTokens;
  if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1 || req.maxTokens > max) {
    throw badInput(`maxTokens must be between 1 and ${max}, got ${req.maxTokens}`, { argument: "maxTokens" });
  }
  return req;
}

/** Words after the answer that turn the prompt from a prediction into an explanation. */
export const EXPLANATION_CUE = "\nExplanation: The member";

/**
 * Scores the item to learn the most likely answer, then has the model continue the prompt with
 * "Answer: The member will <answer>." and an explanation, streamed as text deltas. Aborting the
 * signal cancels the generation in the sidecar.
 */
export async function* explain(
  deps: ExplanationDeps,
  req: ExplanationRequest,
  signal: AbortSignal,
): AsyncGenerator<ExplanationEvent> {
  const started = performance.now();
  let first = true;
  let outcome: ReturnType<typeof outcomeOf> = "cancelled"; // the consumer stopped reading
  try {
    for await (const ev of explainFor(deps, req, signal)) {
      if (first && (ev.delta || ev.done)) {
        first = false;
        deps.observer?.explanationFirstToken(since(started));
      }
      yield ev;
      if (ev.done) outcome = "ok";
    }
    if (outcome !== "ok") outcome = signal.aborted ? "cancelled" : "ok";
  } catch (err) {
    outcome = outcomeOf(err, signal);
    throw err;
  } finally {
    deps.observer?.explanation(outcome, since(started));
  }
}

async function* explainFor(
  deps: ExplanationDeps,
  req: ExplanationRequest,
  signal: AbortSignal,
): AsyncGenerator<ExplanationEvent> {
  const requestId = randomUUID();
  const info = await deps.inference.modelInfo(signal);
  const { prompt } = await preparePrompt(deps.db, deps.tokenizer, deps.maxPrefixTokens, {
    memberId: req.memberId,
    taskName: req.taskName,
    candidateIds: [req.itemId],
    maxContextTokens: info.maxContext,
    // The answer word and the explanation cue follow the suffix, then the generated tokens.
    reserveTokens: req.maxTokens + EXPLANATION_PROMPT_SLACK_TOKENS,
    caches: deps.caches,
  });
  const candidate = prompt.candidates[0];
  // What follows the prefix for each possible answer, tokenized while the Score runs.
  const tailTexts = prompt.labels.map((l) => `${candidate.text} ${l.answer}.${EXPLANATION_CUE}`);
  const [scored, tails] = await Promise.all([
    deps.inference.client.score(
      {
        requestId: `${requestId}:score`,
        prefixIds: prompt.prefixIds,
        candidates: [{ id: candidate.id, ids: candidate.ids }],
        labels: prompt.labels.map((l) => ({ name: l.answer, ids: l.ids })),
      },
      { signal, routeKey: req.memberId },
    ),
    encodePieces(deps.tokenizer, tailTexts, deps.caches?.pieces),
  ]);
  const best = rankCandidates(prompt.labels, scored.candidates)[0].actions.reduce((a, b) =>
    b.probability > a.probability ? b : a,
  );
  const tail = tails[prompt.labels.findIndex((l) => l.answer === best.answer)];
  const base = { requestId, answer: best.answer, probability: best.probability };

  const detok = new IncrementalDetokenizer(deps.tokenizer);
  const stream = deps.inference.client.generate(
    {
      requestId,
      promptIds: [...prompt.prefixIds, ...tail],
      maxTokens: req.maxTokens,
      temperature: 0,
      stopIds: deps.tokenizer.eosId === null ? [] : [deps.tokenizer.eosId],
    },
    { signal, timeoutMs: deps.timeoutMs, routeKey: req.memberId },
  );
  for await (const ev of stream) {
    if (ev.kind === "token") {
      if (ev.id === deps.tokenizer.eosId) continue;
      const delta = await detok.push(ev.id);
      if (delta) yield { ...base, delta, done: false, finishReason: null };
    } else {
      yield { ...base, delta: await detok.flush(), done: true, finishReason: ev.finishReason };
      return;
    }
  }
}
