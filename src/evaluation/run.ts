import { DomainError } from "../domain/errors";
import type { InferenceClient } from "../inference/client";
import { promptVersion } from "../prompt/version";
import { scorePrompt } from "../ranking/score";
import type { EvalList, EvalSource } from "./lists";
import { baselinesFor, type ListScores } from "./rankers";
import { type RankerRun, type Summary, summarize } from "./summarize";

export interface EvaluationOptions {
  source: EvalSource;
  client: InferenceClient;
  /** The model's id, as its sidecar reports it. */
  model: string;
  /** The cut-off of NDCG@k and recall@k. */
  k: number;
  /** Seed of the random baseline. */
  seed: number;
  /**
   * History budgets to sweep, in tokens of history (0: none); null is the task's own budget, the
   * one served rankings use and the main result is measured with.
   */
  historyBudgets: (number | null)[];
  /** Score calls in flight at once. */
  concurrency: number;
  onProgress?: (message: string) => void;
}

/** The model's metrics with one history budget. */
export interface SweepPoint {
  /** Tokens of history allowed; null: the task's own budget. */
  budget: number | null;
  auc: number | null;
  ndcg: number | null;
  recall: number | null;
  logLoss: number | null;
  /** Mean history entries the prompts kept. */
  historyUsed: number;
}

export interface EvaluationResult {
  task: string;
  model: string;
  promptVersion: string;
  source: string;
  dataFrom: Date | null;
  dataTo: Date | null;
  summary: Summary;
  historySweep: SweepPoint[];
  /** Lists that could not be prompted (a member or item gone, a prompt too long), with why. */
  skipped: { listId: string; reason: string }[];
  /** Tokens the model's Score calls took (the main budget and the sweep). */
  usage: { promptTokens: number; cachedTokens: number; computedTokens: number };
  durationMs: number;
}

/** Runs `work` on every element, at most `concurrency` at a time, results in input order. */
async function inPool<T, R>(
  xs: T[],
  concurrency: number,
  work: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await work(xs[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, xs.length) }, worker));
  return out;
}

/**
 * Scores every list with the model and every baseline and measures them on the same positions.
 * The model's scores come from the served path: the source builds the prompt as of the list's
 * time, and one Score call ranks its candidates (src/ranking/score.ts).
 */
export async function runEvaluation(opts: EvaluationOptions): Promise<EvaluationResult> {
  const started = Date.now();
  const { source, client } = opts;
  const task = source.task;
  const usage = { promptTokens: 0, cachedTokens: 0, computedTokens: 0 };
  const skipped: { listId: string; reason: string }[] = [];

  /** The model's scores for a list with a history budget, and the history entries its prompt kept. */
  const scoreList = async (list: EvalList, budget: number | null) => {
    const prompt = await source.prompt(list, budget ?? undefined);
    const res = await scorePrompt(client, `eval-${list.id}-${budget ?? "task"}`, prompt, list.memberId);
    usage.promptTokens += res.usage.promptTokens;
    usage.cachedTokens += res.usage.cachedTokens;
    usage.computedTokens += res.usage.computedTokens;
    const byItem = new Map(res.ranked.map((r) => [r.itemId, r]));
    const scores: ListScores = { scores: [], probabilities: {} };
    for (const a of task.actions) (scores.probabilities as Record<string, number[]>)[a.action] = [];
    for (const c of list.candidates) {
      const r = byItem.get(c.itemId);
      if (!r) throw new Error(`the sidecar returned no score for item ${c.itemId} of list ${list.id}`);
      scores.scores.push(r.score);
      for (const a of r.actions) scores.probabilities?.[a.action]?.push(a.probability);
    }
    return { scores, historyUsed: prompt.historyUsed };
  };

  let done = 0;
  const report = (what: string) => {
    done++;
    if (done % 50 === 0 || done === source.lists.length) {
      opts.onProgress?.(`${what}: ${done}/${source.lists.length} lists`);
    }
  };
  const first = await inPool(source.lists, opts.concurrency, async (list) => {
    try {
      return await scoreList(list, null);
    } catch (err) {
      // A list the served path would refuse (its member or an item gone, a prompt over budget) is
      // left out of every ranker and named; anything else (the sidecar down) ends the run.
      if (err instanceof DomainError && err.code !== "UNAVAILABLE") {
        skipped.push({ listId: list.id, reason: err.message });
        return null;
      }
      throw err;
    } finally {
      report("model");
    }
  });
  const lists = source.lists.filter((_, i) => first[i] !== null);
  const modelRun = first.filter((r) => r !== null);

  const runs: RankerRun[] = [
    {
      name: "model",
      describe: `${opts.model} through the served prompt path`,
      lists: modelRun.map((r) => r.scores),
    },
  ];
  for (const b of baselinesFor(source, opts.seed)) {
    runs.push({
      name: b.name,
      describe: b.describe,
      lists: await inPool(lists, opts.concurrency, (l) => b.score(l)),
    });
  }
  const summary = summarize(task, lists, runs, opts.k);

  const meanHistory = (xs: { historyUsed: number }[]) =>
    xs.length === 0 ? 0 : xs.reduce((n, x) => n + x.historyUsed, 0) / xs.length;
  const point = (
    budget: number | null,
    scored: { scores: ListScores; historyUsed: number }[],
  ): SweepPoint => {
    const m = summarize(
      task,
      lists,
      [{ name: "model", describe: "", lists: scored.map((s) => s.scores) }],
      opts.k,
    ).rankers[0];
    return {
      budget,
      auc: m.auc,
      ndcg: m.ndcg,
      recall: m.recall,
      logLoss: m.logLoss ?? null,
      historyUsed: meanHistory(scored),
    };
  };
  const historySweep: SweepPoint[] = [];
  for (const budget of opts.historyBudgets) {
    if (budget === null) {
      historySweep.push(point(null, modelRun));
      continue;
    }
    done = 0;
    const scored = await inPool(lists, opts.concurrency, async (l) => {
      try {
        return await scoreList(l, budget);
      } finally {
        report(`history budget ${budget}`);
      }
    });
    historySweep.push(point(budget, scored));
  }

  return {
    task: task.name,
    model: opts.model,
    promptVersion: promptVersion(task),
    source: source.name,
    dataFrom: source.dataFrom,
    dataTo: source.dataTo,
    summary,
    historySweep,
    skipped,
    usage,
    durationMs: Date.now() - started,
  };
}
