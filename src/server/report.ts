import type { EvaluationRun } from "@prisma/client";
import type { Express, Request, Response } from "express";
import type { Db } from "../db/client";
import {
  type EvaluationRunSummary,
  evaluationRunById,
  latestEvaluationRun,
  listEvaluationRuns,
} from "../db/evaluation-runs";
import { storedHeadline } from "../evaluation/stored-run";
import type { Logger } from "../observability/logger";
import { escapeHtml } from "../util/html";

/**
 * A report is a self-contained document written by the evaluation (inline <style> and SVG): it
 * may style itself and show data: images, and nothing else: no script runs, nothing is fetched,
 * no form posts anywhere, and no other site may frame it. The pages made here follow the same rule.
 */
export const REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The command that makes a run, as the page without one suggests it. */
export const EVAL_COMMAND = (task: string) => `npm run eval -- --task ${task}`;

const DEFAULT_TASK = "job_apply";
const RUNS_LISTED = 50;

export interface ReportOptions {
  /** The playground is served too (IDE_ENABLED): the pages link to it. */
  playground: boolean;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2433}
code{background:#f1f3f7;padding:.1em .3em;border-radius:3px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #dde2ea}
td.num{text-align:right;font-variant-numeric:tabular-nums}nav a{margin-right:1rem}`;

function nav(o: ReportOptions): string {
  const links = [`<a href="/reports">All evaluation runs</a>`, `<a href="/report">Latest report</a>`];
  if (o.playground) links.push(`<a href="/playground">Playground</a>`, `<a href="/">GraphQL IDE</a>`);
  return `<nav class="brewgate-nav">${links.join(" ")}</nav>`;
}

function page(title: string, body: string, o: ReportOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${nav(o)}
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

/**
 * The stored report with a line of links to the other pages, as the first thing in its body (at
 * the end when it has no <body> tag: text before a doctype would switch it to quirks mode).
 */
export function withNav(report: string, o: ReportOptions): string {
  const bar =
    `<nav class="brewgate-nav" style="font:13px system-ui,sans-serif;padding:.4rem .8rem;` +
    `background:#f1f3f7;border-bottom:1px solid #dde2ea">` +
    [
      `<a href="/reports">All evaluation runs</a>`,
      ...(o.playground ? [`<a href="/playground">Playground</a>`] : []),
    ]
      .map((a) => `<span style="margin-right:1rem">${a}</span>`)
      .join("") +
    `</nav>`;
  const body = /<body\b[^>]*>/i.exec(report);
  if (!body) return `${report}\n${bar}`;
  const at = body.index + body[0].length;
  return report.slice(0, at) + bar + report.slice(at);
}

function metricCell(value: number | null, title: string): string {
  return value === null
    ? `<td class="num">–</td>`
    : `<td class="num" title="${escapeHtml(title)}">${value.toFixed(3)}</td>`;
}

function runsTable(runs: EvaluationRunSummary[]): string {
  const rows = runs.map((r) => {
    const id = escapeHtml(r.id);
    const headline = storedHeadline(r.metrics);
    return `<tr data-run-id="${id}">
<td><a href="/report/${encodeURIComponent(r.id)}">${id}</a></td>
<td>${r.createdAt.toISOString()}</td>
<td>${escapeHtml(r.taskName)}</td>
<td>${escapeHtml(r.model)}</td>
<td><code>${escapeHtml(r.promptVersion)}</code></td>
<td>${escapeHtml(r.source)}</td>
<td class="num">${r.impressions}</td>
<td class="num">${r.positions}</td>
${metricCell(headline.auc, "the model's AUC")}
${metricCell(headline.ndcg, `the model's NDCG@${headline.k ?? "k"}`)}
</tr>`;
  });
  return `<table>
<thead><tr><th>Run</th><th>Created (UTC)</th><th>Task</th><th>Model</th><th>Prompt version</th><th>Source</th>
<th>Impressions</th><th>Positions</th><th>AUC</th><th>NDCG</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

function noRun(task: string | undefined): string {
  const forTask = task ? ` for task <code>${escapeHtml(task)}</code>` : "";
  return `<p>There is no evaluation run${forTask} yet. Make one with</p>
<pre><code>${escapeHtml(EVAL_COMMAND(task ?? DEFAULT_TASK))}</code></pre>
<p>It evaluates the model offline and stores the run with its metrics and report; reload this
page when it is done.</p>`;
}

/** A query parameter given once, as a string (Express parses `?a=1&a=2` as an array). */
function queryParam(req: Request, name: string): string | undefined {
  const v = req.query[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === "string" && s !== "" ? s : undefined;
}

function send(res: Response, status: number, html: string): void {
  res
    .status(status)
    .set({
      "content-security-policy": REPORT_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    })
    .type("html")
    .send(html);
}

/**
 * The offline evaluation's pages: /report (the newest run's report, of `?task=` when given),
 * /report/<id> (one run's), /reports (the latest runs with their headline metrics).
 */
export function mountReports(app: Express, db: Db, logger: Logger, o: ReportOptions): void {
  const guarded =
    (handler: (req: Request, res: Response) => Promise<void>) => async (req: Request, res: Response) => {
      try {
        await handler(req, res);
      } catch (err) {
        logger.error({ err, path: req.path }, "evaluation report page failed");
        send(
          res,
          500,
          page("Evaluation runs unavailable", "<p>The runs could not be read; see the gateway's log.</p>", o),
        );
      }
    };
  const report = (res: Response, run: EvaluationRun) => send(res, 200, withNav(run.report, o));

  app.get(
    "/report",
    guarded(async (req, res) => {
      const task = queryParam(req, "task");
      const run = await latestEvaluationRun(db, task);
      if (run) report(res, run);
      else send(res, 404, page("No evaluation report yet", noRun(task), o));
    }),
  );
  app.get(
    "/report/:id",
    guarded(async (req, res) => {
      const id = String(req.params.id);
      const run = await evaluationRunById(db, id);
      if (run) report(res, run);
      else {
        const body = `<p>There is no evaluation run <code>${escapeHtml(id)}</code>; <a href="/reports">the runs</a> are listed with their ids.</p>`;
        send(res, 404, page("No such evaluation run", body, o));
      }
    }),
  );
  app.get(
    "/reports",
    guarded(async (req, res) => {
      const task = queryParam(req, "task");
      const runs = await listEvaluationRuns(db, { taskName: task, limit: RUNS_LISTED });
      const title = task ? `Evaluation runs of ${task}` : "Evaluation runs";
      if (runs.length === 0) {
        send(res, 200, page(title, noRun(task), o));
        return;
      }
      const more = runs.length === RUNS_LISTED ? `<p>The latest ${RUNS_LISTED} runs, newest first.</p>` : "";
      send(res, 200, page(title, `${more}${runsTable(runs)}`, o));
    }),
  );
}
