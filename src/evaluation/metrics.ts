/**
 * Ranking and calibration metrics of offline evaluation, pure functions over plain arrays.
 *
 * Conventions (those of scikit-learn and of Metarank's and Gorse's evaluators):
 * - ROC AUC is the probability that a random positive scores above a random negative, a tie
 *   counting one half (the Mann-Whitney U statistic over average ranks); undefined (null) when the
 *   labels are all positive or all negative.
 * - A list is ranked by score, highest first; equal scores keep the order they came in, as the
 *   gateway serves them (src/ranking/rank.ts).
 * - NDCG@k uses the exponential gain 2^rel - 1 and the discount 1 / log2(position + 1), against
 *   the ideal order of the same list; recall@k is the share of the list's relevant items in its
 *   top k. Both are undefined (null) for a list with nothing relevant: averages leave such lists
 *   out and count them.
 * - Log loss is the mean negative log-likelihood of the labels, probabilities clipped to
 *   [1e-15, 1 - 1e-15].
 * - Calibration: predictions in `bins` equal-width bins over [0, 1] (the last one closed); the
 *   expected calibration error is the count-weighted mean of |observed rate - mean prediction|.
 */

function checkSameLength(a: unknown[], b: unknown[], what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} scores for ${b.length} labels`);
}

/** ROC AUC of `scores` against binary `labels`; null when either class is absent. */
export function rocAuc(scores: number[], labels: boolean[]): number | null {
  checkSameLength(scores, labels, "rocAuc");
  const order = scores.map((s, i) => ({ s, positive: labels[i] })).sort((a, b) => a.s - b.s);
  let positives = 0;
  let positiveRankSum = 0;
  for (let i = 0; i < order.length; ) {
    // A run of equal scores shares the average of the ranks it spans (1-based).
    let j = i;
    while (j < order.length && order[j].s === order[i].s) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) {
      if (order[t].positive) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return null;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Indices of a list in ranked order: score descending, equal scores in input order. */
export function rankedOrder(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

const gain = (relevance: number) => 2 ** relevance - 1;
const discount = (position: number) => 1 / Math.log2(position + 1);

function dcg(relevances: number[], k: number): number {
  let sum = 0;
  for (let i = 0; i < Math.min(k, relevances.length); i++) sum += gain(relevances[i]) * discount(i + 1);
  return sum;
}

/** NDCG@k of one list (`relevance` 0 = not relevant, higher = more); null when nothing is relevant. */
export function ndcgAtK(scores: number[], relevance: number[], k: number): number | null {
  checkSameLength(scores, relevance, "ndcgAtK");
  const ideal = dcg(
    [...relevance].sort((a, b) => b - a),
    k,
  );
  if (ideal === 0) return null;
  return (
    dcg(
      rankedOrder(scores).map((i) => relevance[i]),
      k,
    ) / ideal
  );
}

/** Recall@k of one list: relevant items in its top k over all its relevant items; null when none is. */
export function recallAtK(scores: number[], relevant: boolean[], k: number): number | null {
  checkSameLength(scores, relevant, "recallAtK");
  const total = relevant.filter(Boolean).length;
  if (total === 0) return null;
  const hits = rankedOrder(scores)
    .slice(0, k)
    .filter((i) => relevant[i]).length;
  return hits / total;
}

/** The mean of a per-list metric over the lists where it is defined, and how many were left out. */
export function meanOverLists(values: (number | null)[]): {
  mean: number | null;
  lists: number;
  skipped: number;
} {
  const defined = values.filter((v): v is number => v !== null);
  return {
    mean: defined.length > 0 ? defined.reduce((a, b) => a + b, 0) / defined.length : null,
    lists: defined.length,
    skipped: values.length - defined.length,
  };
}

const EPSILON = 1e-15;

/** Mean negative log-likelihood of binary `labels` under `probabilities`; null for no samples. */
export function logLoss(probabilities: number[], labels: boolean[]): number | null {
  checkSameLength(probabilities, labels, "logLoss");
  if (probabilities.length === 0) return null;
  let sum = 0;
  probabilities.forEach((p, i) => {
    const q = Math.min(Math.max(p, EPSILON), 1 - EPSILON);
    sum -= Math.log(labels[i] ? q : 1 - q);
  });
  return sum / probabilities.length;
}

export interface ReliabilityBin {
  /** The bin's bounds: [lo, hi), the last one [lo, 1]. */
  lo: number;
  hi: number;
  count: number;
  /** Mean prediction in the bin; null when it is empty. */
  meanPredicted: number | null;
  /** Share of positive labels in the bin; null when it is empty. */
  observedRate: number | null;
}

/** Expected calibration error and the reliability table it is computed from; ece null for no samples. */
export function calibration(
  probabilities: number[],
  labels: boolean[],
  bins = 10,
): { ece: number | null; bins: ReliabilityBin[] } {
  checkSameLength(probabilities, labels, "calibration");
  if (!Number.isInteger(bins) || bins < 1)
    throw new Error(`calibration: bins must be a positive integer, got ${bins}`);
  const sums = Array.from({ length: bins }, () => ({ count: 0, predicted: 0, positive: 0 }));
  probabilities.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new Error(`calibration: probability ${p} at ${i} is outside [0, 1]`);
    const b = sums[Math.min(Math.floor(p * bins), bins - 1)];
    b.count++;
    b.predicted += p;
    if (labels[i]) b.positive++;
  });
  const table = sums.map((b, i) => ({
    lo: i / bins,
    hi: (i + 1) / bins,
    count: b.count,
    meanPredicted: b.count > 0 ? b.predicted / b.count : null,
    observedRate: b.count > 0 ? b.positive / b.count : null,
  }));
  const n = probabilities.length;
  const ece =
    n === 0
      ? null
      : sums.reduce((acc, b) => acc + (b.count > 0 ? Math.abs(b.positive - b.predicted) / n : 0), 0);
  return { ece, bins: table };
}
