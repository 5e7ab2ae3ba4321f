/**
 * What `EvaluationRun.metrics` holds: the run's Summary (src/evaluation/summarize.ts) plus its
 * history sweep, usage and skipped lists. A run stored by an older version may lack parts: every
 * reader goes through here and gets null for what is missing.
 */
export interface StoredHeadline {
  /** The model's AUC and NDCG@k on the task's positive label. */
  auc: number | null;
  ndcg: number | null;
  k: number | null;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function storedHeadline(metrics: unknown): StoredHeadline {
  const m = (metrics && typeof metrics === "object" ? metrics : {}) as { k?: unknown; rankers?: unknown };
  const rankers = Array.isArray(m.rankers)
    ? (m.rankers as { name?: unknown; auc?: unknown; ndcg?: unknown }[])
    : [];
  const model = rankers.find((r) => r && typeof r === "object" && r.name === "model");
  return { auc: num(model?.auc), ndcg: num(model?.ndcg), k: num(m.k) };
}
