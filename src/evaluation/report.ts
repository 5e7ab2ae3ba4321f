import type { EvaluationRunSummary } from "../db/evaluation-runs";
import { escapeHtml as esc } from "../util/html";
import type { EvaluationResult, SweepPoint } from "./run";
import { storedHeadline } from "./stored-run";
import type { LabelMetrics, RankerMetrics } from "./summarize";

/** A past run as the report's history shows it. */
export interface PastRun {
  id: string;
  createdAt: Date;
  model: string;
  promptVersion: string;
  source: string;
  auc: number | null;
  ndcg: number | null;
}

/** A stored run as the history shows it. */
export function pastRun(run: EvaluationRunSummary): PastRun {
  const { auc, ndcg } = storedHeadline(run.metrics);
  return {
    id: run.id,
    createdAt: run.createdAt,
    model: run.model,
    promptVersion: run.promptVersion,
    source: run.source,
    auc,
    ndcg,
  };
}

export interface ReportInput {
  runId: string;
  createdAt: Date;
  result: EvaluationResult;
  /** Earlier runs of the task, newest first (this one excluded). */
  history: PastRun[];
  /** Warnings the reader must see first (a model with random weights). */
  notes: string[];
}

const fmt = (v: number | null | undefined, digits = 4) =>
  v === null || v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits);

const COLORS = ["#2f6fb3", "#9a9a9a", "#d08a2e", "#5a9e5a", "#8a5ab3", "#b35a5a"];

interface Series {
  name: string;
  values: (number | null)[];
}

/** The frame every [0, 1] chart shares: its size, the y scale, gridlines, a legend, the figure. */
function unitChart(h: number, top: number) {
  const w = 560;
  const left = 40;
  const bottom = 40;
  const plotH = h - top - bottom;
  const y = (v: number) => top + plotH * (1 - v);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (t) =>
        `<line x1="${left}" x2="${w - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#e4e4e4"/>` +
        `<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${t}</text>`,
    )
    .join("");
  const figure = (title: string, series: Series[], spacing: number, body: string[]) => {
    const legend = series
      .map(
        (s, si) =>
          `<rect x="${left + si * spacing}" y="${h - 14}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${left + si * spacing + 14}" y="${h - 5}" font-size="11">${esc(s.name)}</text>`,
      )
      .join("");
    return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">${grid}${body.join("")}${legend}</svg></figure>`;
  };
  return { w, left, plotH, y, labelY: h - bottom + 16, figure };
}

/** Grouped vertical bars: one group per metric, one bar per series; values in [0, 1]. */
function barChart(title: string, groups: string[], series: Series[]): string {
  const { w, left, plotH, y, labelY, figure } = unitChart(260, 30);
  const groupW = (w - left - 10) / groups.length;
  const barW = Math.min(36, (groupW - 20) / series.length);
  const parts: string[] = [];
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null) return;
      const x = x0 + si * barW;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${(plotH * v).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)} ${esc(g)} ${fmt(v)}</title></rect>`,
        `<text x="${(x + (barW - 3) / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${fmt(v, 3)}</text>`,
      );
    });
    parts.push(
      `<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${labelY}" text-anchor="middle" font-size="12">${esc(g)}</text>`,
    );
  });
  return figure(title, series, 95, parts);
}

/** Lines over x labels (evenly spaced); values in [0, 1]. */
function lineChart(title: string, xs: string[], series: Series[]): string {
  const { w, left, y, labelY, figure } = unitChart(240, 20);
  const step = xs.length > 1 ? (w - left - 80) / (xs.length - 1) : 0;
  const x = (i: number) => left + 30 + i * step;
  const parts = xs.map(
    (label, i) => `<text x="${x(i)}" y="${labelY}" text-anchor="middle" font-size="11">${esc(label)}</text>`,
  );
  series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length];
    const pts = s.values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`));
    const defined = pts.filter((p): p is string => p !== null);
    if (defined.length > 1) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${defined.join(" ")}"/>`);
    }
    s.values.forEach((v, i) => {
      if (v === null) return;
      parts.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(s.name)} ${esc(xs[i])} ${fmt(v)}</title></circle>`,
      );
    });
  });
  return figure(title, series, 110, parts);
}

/** Observed positive rate against mean prediction per bin, with the diagonal of perfect calibration. */
function reliabilityDiagram(title: string, rankers: RankerMetrics[]): string {
  const size = 300;
  const pad = 40;
  const plot = size - 2 * pad;
  const px = (v: number) => pad + plot * v;
  const py = (v: number) => size - pad - plot * v;
  const parts = [
    `<rect x="${pad}" y="${pad}" width="${plot}" height="${plot}" fill="none" stroke="#ccc"/>`,
    `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<text x="${size / 2}" y="${size - 8}" text-anchor="middle" font-size="11">mean predicted probability</text>`,
    `<text x="12" y="${size / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${size / 2})">observed rate</text>`,
  ];
  for (const t of [0, 0.5, 1]) {
    parts.push(
      `<text x="${px(t)}" y="${size - pad + 14}" text-anchor="middle" font-size="10">${t}</text>`,
      `<text x="${pad - 4}" y="${py(t) + 3}" text-anchor="end" font-size="10">${t}</text>`,
    );
  }
  rankers.forEach((r, ri) => {
    const color = COLORS[(ri * 4) % COLORS.length];
    const bins = (r.reliability ?? []).filter((b) => b.count > 0);
    const total = bins.reduce((n, b) => n + b.count, 0);
    const pts = bins.map(
      (b) => `${px(b.meanPredicted ?? 0).toFixed(1)},${py(b.observedRate ?? 0).toFixed(1)}`,
    );
    if (pts.length > 1)
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.join(" ")}"/>`);
    for (const b of bins) {
      const radius = 2.5 + 6 * Math.sqrt(b.count / total);
      parts.push(
        `<circle cx="${px(b.meanPredicted ?? 0).toFixed(1)}" cy="${py(b.observedRate ?? 0).toFixed(1)}" r="${radius.toFixed(1)}" fill="${color}" fill-opacity="0.6"><title>${esc(r.name)} [${b.lo.toFixed(1)}, ${b.hi.toFixed(1)}): ${b.count} predictions, mean ${fmt(b.meanPredicted, 3)}, observed ${fmt(b.observedRate, 3)}</title></circle>`,
      );
    }
    parts.push(
      `<rect x="${pad + ri * 90}" y="8" width="10" height="10" fill="${color}"/><text x="${pad + ri * 90 + 14}" y="17" font-size="11">${esc(r.name)}</text>`,
    );
  });
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img">${parts.join("")}</svg></figure>`;
}

function metricsRow(name: string, m: LabelMetrics, extra = ""): string {
  return `<tr><th>${esc(name)}</th><td>${fmt(m.auc)}</td><td>${fmt(m.ndcg)}</td><td>${fmt(m.recall)}</td><td>${fmt(m.logLoss)}</td><td>${fmt(m.ece)}</td><td>${m.positives}</td><td>${m.lists}</td>${extra}</tr>`;
}

const budgetLabel = (p: SweepPoint) => (p.budget === null ? "task budget" : `${p.budget} tokens`);

/** The run as one self-contained HTML document: inline CSS and SVG, no script, nothing fetched. */
export function renderReport(input: ReportInput): string {
  const { result: r, history } = input;
  const s = r.summary;
  const k = s.k;
  const model = s.rankers.find((x) => x.name === "model");
  const probabilistic = s.rankers.filter((x) => x.reliability);
  const head = `${esc(r.task)} · ${esc(r.model)} · prompt ${esc(r.promptVersion)}`;
  const window = r.dataFrom && r.dataTo ? `${r.dataFrom.toISOString()} – ${r.dataTo.toISOString()}` : "(all)";
  const outcomes = Object.entries(s.outcomes)
    .map(([a, n]) => `${esc(a)} ${n}`)
    .join(", ");

  const rankerTable = `<table><thead><tr><th>ranker</th><th>AUC</th><th>NDCG@${k}</th><th>recall@${k}</th><th>log loss</th><th>ECE</th><th>positives</th><th>lists</th><th>what</th></tr></thead><tbody>${s.rankers
    .map((m) => metricsRow(m.name, m, `<td class="what">${esc(m.describe)}</td>`))
    .join("")}</tbody></table>`;

  const actionTable = model
    ? `<table><thead><tr><th>action</th><th>AUC</th><th>NDCG@${k}</th><th>recall@${k}</th><th>log loss</th><th>ECE</th><th>positives</th><th>lists</th></tr></thead><tbody>${Object.entries(
        model.perAction,
      )
        .map(([a, m]) => metricsRow(a, m))
        .join("")}</tbody></table>`
    : "";

  const reliabilityTable = model?.reliability
    ? `<table><thead><tr><th>bin</th><th>count</th><th>mean predicted</th><th>observed rate</th></tr></thead><tbody>${model.reliability
        .map(
          (b) =>
            `<tr><td>[${b.lo.toFixed(1)}, ${b.hi.toFixed(1)}${b.hi === 1 ? "]" : ")"}</td><td>${b.count}</td><td>${fmt(b.meanPredicted, 3)}</td><td>${fmt(b.observedRate, 3)}</td></tr>`,
        )
        .join("")}</tbody></table>`
    : "";

  const sweep = r.historySweep;
  const sweepSection =
    sweep.length > 0
      ? `<h2>What history is worth</h2>${lineChart(
          `model AUC and NDCG@${k} by history budget`,
          sweep.map(budgetLabel),
          [
            { name: "AUC", values: sweep.map((p) => p.auc) },
            { name: `NDCG@${k}`, values: sweep.map((p) => p.ndcg) },
          ],
        )}<table><thead><tr><th>history budget</th><th>AUC</th><th>NDCG@${k}</th><th>recall@${k}</th><th>log loss</th><th>history entries kept (mean)</th></tr></thead><tbody>${sweep
          .map(
            (p) =>
              `<tr><th>${esc(budgetLabel(p))}</th><td>${fmt(p.auc)}</td><td>${fmt(p.ndcg)}</td><td>${fmt(p.recall)}</td><td>${fmt(p.logLoss)}</td><td>${p.historyUsed.toFixed(1)}</td></tr>`,
          )
          .join("")}</tbody></table>`
      : "";

  const runs: PastRun[] = [
    {
      id: input.runId,
      createdAt: input.createdAt,
      model: r.model,
      promptVersion: r.promptVersion,
      source: r.source,
      auc: model?.auc ?? null,
      ndcg: model?.ndcg ?? null,
    },
    ...history,
  ];
  const chronological = [...runs].reverse();
  const historySection = `<h2>Runs of this task</h2>${
    chronological.length > 1
      ? lineChart(
          "model AUC and NDCG over runs (oldest left)",
          chronological.map((_, i) => `#${i + 1}`),
          [
            { name: "AUC", values: chronological.map((x) => x.auc) },
            { name: `NDCG@${k}`, values: chronological.map((x) => x.ndcg) },
          ],
        )
      : ""
  }<table><thead><tr><th>run</th><th>when</th><th>model</th><th>prompt</th><th>data</th><th>AUC</th><th>NDCG</th></tr></thead><tbody>${runs
    .map(
      (x, i) =>
        `<tr${i === 0 ? ' class="this"' : ""}><td>#${runs.length - i}</td><td>${esc(x.createdAt.toISOString())}</td><td>${esc(x.model)}</td><td>${esc(x.promptVersion)}</td><td>${esc(x.source)}</td><td>${fmt(x.auc)}</td><td>${fmt(x.ndcg)}</td></tr>`,
    )
    .join("")}</tbody></table>`;

  const skipped =
    r.skipped.length > 0
      ? `<h2>Lists left out (${r.skipped.length})</h2><ul>${r.skipped
          .slice(0, 50)
          .map((x) => `<li>${esc(x.listId)}: ${esc(x.reason)}</li>`)
          .join("")}</ul>`
      : "";

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>brewgate evaluation: ${head}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:20px;margin-bottom:4px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child{text-align:left}td.what{text-align:left;color:#666}tr.this{background:#f3f7fc}
.meta{color:#555}.note{background:#fff4e0;border:1px solid #e6b35a;padding:8px 12px;margin:10px 0}
figure{display:inline-block;margin:8px 16px 8px 0}figcaption{font-weight:600;margin-bottom:4px}
</style></head><body>
<h1>Evaluation of ${head}</h1>
<p class="meta">run ${esc(input.runId)} at ${esc(input.createdAt.toISOString())} · data ${esc(r.source)} ${esc(window)} · ${s.lists} lists, ${s.positions} positions · outcomes: ${outcomes} · ${(r.durationMs / 1000).toFixed(1)} s</p>
${input.notes.map((n) => `<p class="note">${esc(n)}</p>`).join("")}
<h2>Rankers on the same lists</h2>
<p class="meta">Label: the member took a positive action of the task. AUC over all positions (ties count half); NDCG@${k} and recall@${k} averaged over lists with a positive (${model?.listsWithout ?? 0} lists had none); log loss and ECE on the probability of the positive answers, for rankers that predict one.</p>
${rankerTable}
${barChart(
  "AUC and NDCG by ranker",
  ["AUC", `NDCG@${k}`, `recall@${k}`],
  s.rankers.map((m) => ({ name: m.name, values: [m.auc, m.ndcg, m.recall] })),
)}
${probabilistic.length > 0 ? reliabilityDiagram("reliability (positive answers)", probabilistic) : ""}
<h2>The model per action</h2>
${actionTable}
<h2>Calibration of the model</h2>
${reliabilityTable}
${sweepSection}
${historySection}
${skipped}
</body></html>
`;
}
