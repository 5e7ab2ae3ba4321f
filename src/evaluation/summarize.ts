import type { TaskDefinition } from "../domain/task-definition";
import type { EvalList } from "./lists";
import {
  calibration,
  logLoss,
  meanOverLists,
  ndcgAtK,
  type ReliabilityBin,
  recallAtK,
  rocAuc,
} from "./metrics";
import type { ListScores } from "./rankers";

/** One ranker's metrics for one label (the task's positive answers, or one action). */
export interface LabelMetrics {
  /** Positions with this label. */
  positives: number;
  /** ROC AUC over every evaluated position (null when a class is absent). */
  auc: number | null;
  /** Mean NDCG@k and recall@k over the lists with at least one position of this label. */
  ndcg: number | null;
  recall: number | null;
  /** Lists counted by ndcg/recall, and lists left out for having no such position. */
  lists: number;
  listsWithout: number;
  /** For rankers that predict probabilities: log loss, ECE and the reliability table. */
  logLoss?: number | null;
  ece?: number | null;
  reliability?: ReliabilityBin[];
}

export interface RankerMetrics extends LabelMetrics {
  name: string;
  describe: string;
  /** The same metrics per action: label = the member took that action. */
  perAction: Record<string, LabelMetrics>;
}

/** Every list's scores of one ranker, in the order of the lists. */
export interface RankerRun {
  name: string;
  describe: string;
  lists: ListScores[];
}

export interface Summary {
  k: number;
  lists: number;
  positions: number;
  /** How many positions got each outcome; "none" for nothing. */
  outcomes: Record<string, number>;
  rankers: RankerMetrics[];
}

function labelMetrics(
  lists: EvalList[],
  run: ListScores[],
  isPositive: (outcome: string | null) => boolean,
  k: number,
  probabilityOf: ((s: ListScores) => number[] | undefined) | null,
): LabelMetrics {
  const allScores: number[] = [];
  const allLabels: boolean[] = [];
  const allProbabilities: number[] = [];
  const ndcgs: (number | null)[] = [];
  const recalls: (number | null)[] = [];
  lists.forEach((list, i) => {
    const labels = list.candidates.map((c) => isPositive(c.outcome));
    const scores = run[i].scores;
    allScores.push(...scores);
    allLabels.push(...labels);
    ndcgs.push(
      ndcgAtK(
        scores,
        labels.map((l) => (l ? 1 : 0)),
        k,
      ),
    );
    recalls.push(recallAtK(scores, labels, k));
    const p = probabilityOf?.(run[i]);
    if (p) allProbabilities.push(...p);
  });
  const ndcg = meanOverLists(ndcgs);
  const out: LabelMetrics = {
    positives: allLabels.filter(Boolean).length,
    auc: rocAuc(allScores, allLabels),
    ndcg: ndcg.mean,
    recall: meanOverLists(recalls).mean,
    lists: ndcg.lists,
    listsWithout: ndcg.skipped,
  };
  if (probabilityOf && allProbabilities.length === allLabels.length) {
    const cal = calibration(allProbabilities, allLabels);
    out.logLoss = logLoss(allProbabilities, allLabels);
    out.ece = cal.ece;
    out.reliability = cal.bins;
  }
  return out;
}

/**
 * Metrics of each ranker on the same lists: for the task (label: the member took a positive
 * action) and per action. A ranker's probabilities of the positive actions, summed, are what its
 * log loss and calibration are measured on; a ranker without probabilities gets ranking metrics
 * only, and per action it ranks by its one score.
 */
export function summarize(task: TaskDefinition, lists: EvalList[], runs: RankerRun[], k: number): Summary {
  const positive = new Set(task.actions.filter((a) => a.positive).map((a) => a.action));
  const outcomes: Record<string, number> = { none: 0 };
  for (const a of task.actions) outcomes[a.action] = 0;
  for (const l of lists) {
    for (const c of l.candidates) {
      const key = c.outcome ?? "none";
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
  }
  const rankers = runs.map((run): RankerMetrics => {
    const probabilistic = run.lists.every((s) => s.probabilities !== undefined);
    const positiveMass = (s: ListScores) =>
      s.scores.map((_, j) => [...positive].reduce((sum, a) => sum + (s.probabilities?.[a]?.[j] ?? 0), 0));
    const perAction: Record<string, LabelMetrics> = {};
    for (const a of task.actions) {
      // A probabilistic ranker ranks by its probability of the action; others by their one score.
      const byAction = run.lists.map((s) => ({
        scores: probabilistic ? (s.probabilities?.[a.action] ?? []) : s.scores,
      }));
      perAction[a.action] = labelMetrics(
        lists,
        byAction,
        (o) => o === a.action,
        k,
        probabilistic ? (s) => s.scores : null,
      );
    }
    return {
      name: run.name,
      describe: run.describe,
      ...labelMetrics(
        lists,
        run.lists,
        (o) => o !== null && positive.has(o),
        k,
        probabilistic ? positiveMass : null,
      ),
      perAction,
    };
  });
  return {
    k,
    lists: lists.length,
    positions: lists.reduce((n, l) => n + l.candidates.length, 0),
    outcomes,
    rankers,
  };
}
