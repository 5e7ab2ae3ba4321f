import { randomUUID } from "node:crypto";
import type { Item } from "@prisma/client";
import { REQUEST_LIMITS } from "../config/limits";
import type { Db } from "../db/client";
import { memberExists } from "../db/members";
import { retrieveCandidates } from "../db/retrieval";
import { badInput, notFound } from "../domain/errors";
import type { ImpressionSink } from "../domain/impression";
import { outcomeOf, type RankingObserver, since } from "../domain/observer";
import type { TaskDefinition } from "../domain/task-definition";
import type { InferenceService } from "../inference/service";
import type { Timings, Usage } from "../inference/types";
import { inSpan } from "../observability/tracing";
import type { TextTokenizer } from "../prompt/tokenizer";
import { promptVersion } from "../prompt/version";
import { toImpression } from "./impression";
import { type PromptPathCaches, preparePrompt } from "./prompts";
import type { RankedCandidate } from "./rank";
import { scorePrompt } from "./score";
import { readTask } from "./task-cache";

export interface RecommendationDeps {
  db: Db;
  tokenizer: TextTokenizer;
  inference: InferenceService;
  /** Where served rankings are recorded (written behind the answer). */
  impressions: ImpressionSink;
  maxPrefixTokens: number;
  retrievalLimit: number;
  caches?: PromptPathCaches;
  /** Told each ranking's latency and outcome (the metrics). */
  observer?: RankingObserver;
}

export interface RecommendationRequest {
  memberId: string;
  taskName: string;
  /** Unset: the retrieval step picks candidates. */
  candidateIds?: string[] | null;
  /** How many of the ranked candidates to return (all are scored). */
  first: number;
  /** Whether to record the served ranking as an impression. @default true */
  recordImpression?: boolean;
  /**
   * Whether the caller reads each answer's full-vocabulary log-probability (GraphQL's `logprob`).
   * Without it the sidecar scores the answer rows only; ranks, scores and probabilities are the same.
   * @default false
   */
  logprobs?: boolean;
}

/** A ranked candidate with its item row, as served. */
export type ServedCandidate = RankedCandidate & { item: Item };

export interface Ranking {
  requestId: string;
  impressionId: string | null;
  model: string;
  /** The prompt's version (src/prompt/version.ts), recorded with the impression. */
  promptVersion: string;
  memberId: string;
  task: string;
  candidates: ServedCandidate[];
  /** How many candidates were scored (before `first`). */
  scored: number;
  historyUsed: number;
  historyAvailable: number;
  usage: Usage;
  /** The sidecar's own account of the Score call. */
  timings: Timings;
}

/**
 * Builds the prompt, scores every candidate in one Score call, ranks and queues the impression;
 * its latency and outcome go to `deps.observer`.
 */
export async function recommend(
  deps: RecommendationDeps,
  req: RecommendationRequest,
  signal?: AbortSignal,
): Promise<Ranking> {
  const started = performance.now();
  try {
    const ranking = await inSpan("ranking", { "brewgate.task": req.taskName }, async (span) => {
      const r = await rankFor(deps, req, signal);
      span.setAttributes({ "brewgate.candidates": r.scored, "brewgate.request_id": r.requestId });
      return r;
    });
    deps.observer?.ranking("ok", since(started));
    return ranking;
  } catch (err) {
    deps.observer?.ranking(outcomeOf(err, signal), since(started));
    throw err;
  }
}

async function rankFor(
  deps: RecommendationDeps,
  req: RecommendationRequest,
  signal?: AbortSignal,
): Promise<Ranking> {
  const max = REQUEST_LIMITS.maxCandidates;
  if (!Number.isInteger(req.first) || req.first < 1 || req.first > max) {
    throw badInput(`first must be between 1 and ${max}, got ${req.first}`, { argument: "first" });
  }
  const requestId = randomUUID();
  let candidateIds = req.candidateIds ?? null;
  let task: TaskDefinition | undefined;
  if (!candidateIds) {
    task = await readTask(deps.db, req.taskName, deps.caches?.tasks);
    const chosen = task;
    candidateIds = await inSpan("db.retrieve_candidates", { "db.system": "postgresql" }, () =>
      retrieveCandidates(deps.db, req.memberId, chosen, deps.retrievalLimit),
    );
  }
  if (candidateIds.length === 0) {
    if (!(await memberExists(deps.db, req.memberId))) throw notFound("Member", req.memberId);
    task ??= await readTask(deps.db, req.taskName, deps.caches?.tasks);
    const info = await deps.inference.modelInfo(signal);
    return emptyRanking(requestId, info.modelId, promptVersion(task), req);
  }
  const info = await deps.inference.modelInfo(signal);
  const prepared = await preparePrompt(deps.db, deps.tokenizer, deps.maxPrefixTokens, {
    memberId: req.memberId,
    taskName: req.taskName,
    task,
    candidateIds,
    maxContextTokens: info.maxContext,
    caches: deps.caches,
  });
  const { prompt, candidates } = prepared;
  const version = promptVersion(prepared.task);
  const res = await scorePrompt(
    deps.inference.client,
    requestId,
    prompt,
    req.memberId,
    signal,
    req.logprobs === true,
  );
  const { ranked } = res;
  const items = new Map(candidates.map((c) => [c.id, c]));
  const shown = ranked.slice(0, req.first).map((c) => ({ ...c, item: items.get(c.itemId) as Item }));
  const impression =
    req.recordImpression === false
      ? null
      : toImpression({
          requestId,
          memberId: req.memberId,
          taskName: req.taskName,
          model: info.modelId,
          promptVersion: version,
          candidates: shown,
        });
  if (impression) deps.impressions.record(impression);
  return {
    requestId,
    impressionId: impression?.id ?? null,
    model: info.modelId,
    promptVersion: version,
    memberId: req.memberId,
    task: req.taskName,
    candidates: shown,
    scored: ranked.length,
    historyUsed: prompt.historyUsed,
    historyAvailable: prompt.historyAvailable,
    usage: res.usage,
    timings: res.timings,
  };
}

function emptyRanking(
  requestId: string,
  model: string,
  version: string,
  req: RecommendationRequest,
): Ranking {
  return {
    requestId,
    impressionId: null,
    model,
    promptVersion: version,
    memberId: req.memberId,
    task: req.taskName,
    candidates: [],
    scored: 0,
    historyUsed: 0,
    historyAvailable: 0,
    usage: { promptTokens: 0, cachedTokens: 0, computedTokens: 0, completionTokens: 0 },
    timings: { queueMs: 0, prefillMs: 0, decodeMs: 0, totalMs: 0 },
  };
}
