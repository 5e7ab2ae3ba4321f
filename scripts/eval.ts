import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadConfig } from "../src/config";
import { listEvaluationRuns, saveEvaluationRun } from "../src/db/evaluation-runs";
import { datasetSource } from "../src/evaluation/dataset-source";
import { impressionSource } from "../src/evaluation/impression-source";
import { pastRun, renderReport } from "../src/evaluation/report";
import { type EvaluationResult, runEvaluation } from "../src/evaluation/run";
import { prefixBudget } from "../src/inference/model-card";
import { readTask } from "../src/ranking/task-cache";
import { isoTime, parseFlags, positiveInt, runCommand, UsageError } from "./cli";
import { type OpenDatabase, type OpenModel, openDatabase, openModel, stopOnSignals } from "./local-services";

const USAGE = `npm run eval -- [options]

Replays labelled impressions (or a dataset file) through the served prompt path, scores them with
the model and with baselines, prints a table and a JSON line, keeps the run and writes an HTML report.

  --task NAME             task to evaluate (default job_apply)
  --model-dir DIR         start a sidecar on this checkpoint (default: MODEL_DIR or the demo model)
  --sidecar HOST:PORT     use a running sidecar (tokenizer from --tokenizer, TOKENIZER_PATH or MODEL_DIR)
  --tokenizer PATH        the model's tokenizer.json
  --from TIME --to TIME   impressions shown in [from, to) (ISO 8601; default: all whose attribution
                          window has closed, i.e. to = now - ATTRIBUTION_WINDOW_MS)
  --dataset FILE          evaluate a JSON Lines dataset instead (src/evaluation/dataset-source.ts)
  --limit N               at most N impressions, oldest first (default 5000)
  --k N                   cut-off of NDCG@k and recall@k (default 10)
  --history-budgets LIST  history budgets to sweep, tokens or 'full' (default 0,128,512,full; 'none' skips)
  --seed N                seed of the random baseline (default 1)
  --concurrency N         Score calls in flight (default 4)
  --score-timeout-ms N    deadline of one Score call (default 300000: a batch job, not a served ranking)
  --out FILE              where to write the HTML report (default DATA_DIR/eval/<run>.html)
  --no-save               do not keep the run in the database`;

interface Args {
  task: string;
  modelDir?: string;
  sidecar?: string;
  tokenizer?: string;
  from?: Date;
  to?: Date;
  dataset?: string;
  limit: number;
  k: number;
  budgets: (number | null)[];
  seed: number;
  concurrency: number;
  scoreTimeoutMs: number;
  out?: string;
  save: boolean;
}

export function parseBudgets(value: string): (number | null)[] {
  if (value === "none") return [];
  return value.split(",").map((part) => {
    const p = part.trim();
    if (p === "full") return null;
    const n = Number(p);
    if (p === "" || !Number.isInteger(n) || n < 0) {
      throw new UsageError(`--history-budgets takes tokens (>= 0) or 'full', comma-separated; got '${part}'`);
    }
    return n;
  });
}

function parse(argv: string[]): Args {
  const values = parseFlags(
    argv,
    {
      task: { type: "string", default: "job_apply" },
      "model-dir": { type: "string" },
      sidecar: { type: "string" },
      tokenizer: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      dataset: { type: "string" },
      limit: { type: "string" },
      k: { type: "string" },
      "history-budgets": { type: "string", default: "0,128,512,full" },
      seed: { type: "string" },
      concurrency: { type: "string" },
      "score-timeout-ms": { type: "string" },
      out: { type: "string" },
      "no-save": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (values.dataset && (values.from || values.to)) {
    throw new UsageError("--from/--to select impressions; a --dataset file is evaluated whole");
  }
  if (values.dataset && !existsSync(values.dataset))
    throw new UsageError(`--dataset ${values.dataset}: no such file`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${values.seed}'`);
  return {
    task: values.task,
    modelDir: values["model-dir"],
    sidecar: values.sidecar,
    tokenizer: values.tokenizer,
    from: isoTime("from", values.from),
    to: isoTime("to", values.to),
    dataset: values.dataset,
    limit: positiveInt("limit", values.limit, 5000),
    k: positiveInt("k", values.k, 10),
    budgets: parseBudgets(values["history-budgets"]),
    seed,
    concurrency: positiveInt("concurrency", values.concurrency, 4),
    scoreTimeoutMs: positiveInt("score-timeout-ms", values["score-timeout-ms"], 300_000),
    out: values.out,
    save: !values["no-save"],
  };
}

const f = (v: number | null | undefined, digits = 4) =>
  v === null || v === undefined ? "-" : v.toFixed(digits);

/** The table a person reads: rankers, the model per action, the history sweep. */
export function formatTable(r: EvaluationResult): string {
  const s = r.summary;
  const k = s.k;
  const pad = (x: string, n: number) => x.padEnd(n);
  const lines = [
    `task ${r.task}  model ${r.model}  prompt ${r.promptVersion}  data ${r.source}` +
      (r.dataFrom && r.dataTo ? ` [${r.dataFrom.toISOString()}, ${r.dataTo.toISOString()})` : ""),
    `${s.lists} lists, ${s.positions} positions; outcomes: ${Object.entries(s.outcomes)
      .map(([a, n]) => `${a} ${n}`)
      .join(", ")}${r.skipped.length > 0 ? `; ${r.skipped.length} lists left out` : ""}`,
    "",
    `${pad("ranker", 12)}${pad("AUC", 9)}${pad(`NDCG@${k}`, 9)}${pad(`recall@${k}`, 11)}${pad("log loss", 10)}${pad("ECE", 8)}`,
  ];
  for (const m of s.rankers) {
    lines.push(
      `${pad(m.name, 12)}${pad(f(m.auc), 9)}${pad(f(m.ndcg), 9)}${pad(f(m.recall), 11)}${pad(f(m.logLoss), 10)}${pad(f(m.ece), 8)}`,
    );
  }
  const model = s.rankers.find((m) => m.name === "model");
  if (model) {
    lines.push("", `model per action`);
    for (const [a, m] of Object.entries(model.perAction)) {
      lines.push(
        `${pad(`  ${a}`, 12)}${pad(f(m.auc), 9)}${pad(f(m.ndcg), 9)}${pad(f(m.recall), 11)}${pad(f(m.logLoss), 10)}${pad(f(m.ece), 8)}(${m.positives} positives)`,
      );
    }
  }
  if (r.historySweep.length > 0) {
    lines.push("", "model by history budget");
    for (const p of r.historySweep) {
      lines.push(
        `${pad(`  ${p.budget === null ? "full" : p.budget}`, 12)}${pad(f(p.auc), 9)}${pad(f(p.ndcg), 9)}${pad(f(p.recall), 11)}${pad(f(p.logLoss), 10)}${"".padEnd(8)}(${p.historyUsed.toFixed(1)} history entries)`,
      );
    }
  }
  return lines.join("\n");
}

/** The run's one JSON line: the model's headline metrics, then each baseline's. */
export function summaryLine(
  r: EvaluationResult,
  runId: string | null,
  report: string,
): Record<string, unknown> {
  const k = r.summary.k;
  const model = r.summary.rankers.find((m) => m.name === "model");
  const baselines: Record<string, unknown> = {};
  for (const m of r.summary.rankers) {
    if (m.name !== "model")
      baselines[m.name] = { auc: m.auc, [`ndcg_at_${k}`]: m.ndcg, [`recall_at_${k}`]: m.recall };
  }
  return {
    run_id: runId,
    task: r.task,
    model: r.model,
    prompt_version: r.promptVersion,
    source: r.source,
    lists: r.summary.lists,
    positions: r.summary.positions,
    positives: model?.positives ?? 0,
    skipped_lists: r.skipped.length,
    auc: model?.auc ?? null,
    [`ndcg_at_${k}`]: model?.ndcg ?? null,
    [`recall_at_${k}`]: model?.recall ?? null,
    log_loss: model?.logLoss ?? null,
    ece: model?.ece ?? null,
    baselines,
    history_sweep: r.historySweep.map((p) => ({
      budget: p.budget === null ? "full" : p.budget,
      auc: p.auc,
      [`ndcg_at_${k}`]: p.ndcg,
      history_used: p.historyUsed,
    })),
    computed_tokens: r.usage.computedTokens,
    duration_ms: r.durationMs,
    report,
  };
}

async function main() {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const args = parse(process.argv.slice(2));
  const config = loadConfig();
  const log = (line: string) => process.stderr.write(`eval: ${line}\n`);

  let database: OpenDatabase | null = null;
  let model: OpenModel | null = null;
  // A signal while the model is being opened (a sidecar loading its checkpoint) must still stop
  // that sidecar: it is waited for and closed, not left running after this process exits.
  let opening: Promise<OpenModel> | null = null;
  const closeAll = async () => {
    const open = model ?? (await opening?.catch(() => null));
    await open?.close();
    await database?.close();
  };
  stopOnSignals(log, closeAll);

  try {
    database = await openDatabase(config);
    log(`database: ${database.describe}`);
    const { db } = database;
    const task = await readTask(db, args.task);
    opening = openModel(config, args, log);
    model = await opening;
    log(`model: ${model.describe}`);

    const common = {
      tokenizer: model.tokenizer,
      task,
      maxPrefixTokens: prefixBudget(config.PROMPT_MAX_TOKENS, model.prefixTokens),
      maxContextTokens: model.info.maxContext,
    };
    let source: Awaited<ReturnType<typeof impressionSource>>;
    if (args.dataset) {
      source = await datasetSource(args.dataset, common);
    } else {
      // Only impressions whose attribution window has closed: a newer one may still get its outcome.
      const settled = new Date(Date.now() - config.ATTRIBUTION_WINDOW_MS);
      const to = args.to && args.to < settled ? args.to : settled;
      if (args.to && args.to > settled)
        log(`--to moved back to ${settled.toISOString()}: later impressions may still get outcomes`);
      source = await impressionSource({
        ...common,
        db,
        from: args.from ?? new Date(0),
        to,
        attributionWindowMs: config.ATTRIBUTION_WINDOW_MS,
        limit: args.limit,
      });
    }
    if (source.lists.length === 0) {
      throw new Error(
        `no labelled impressions of task '${task.name}' shown in [${source.dataFrom?.toISOString()}, ${source.dataTo?.toISOString()}): ` +
          "rankings served by the gateway are recorded as impressions (a fresh `npm start` writes demo ones); widen --from/--to or give --dataset",
      );
    }
    log(`${source.lists.length} lists from ${source.name}; scoring with the model and the baselines`);

    const result = await runEvaluation({
      source,
      client: model.client,
      model: model.info.modelId,
      k: args.k,
      seed: args.seed,
      historyBudgets: args.budgets,
      concurrency: args.concurrency,
      onProgress: log,
    });

    const runId = randomUUID();
    const createdAt = new Date();
    const notes = model.randomWeights
      ? [
          "The model has random weights: its AUC is expected near 0.5. Point --model-dir (or MODEL_DIR) at a trained checkpoint.",
        ]
      : model.description
        ? [`The model is ${model.description}.`]
        : [];
    const history = (await listEvaluationRuns(db, { taskName: task.name, limit: 30 })).map(pastRun);
    const html = renderReport({ runId, createdAt, result, history, notes });
    const out = resolve(
      args.out ??
        join(
          config.DATA_DIR,
          "eval",
          `${createdAt.toISOString().replace(/[:.]/g, "-")}-${runId.slice(0, 8)}.html`,
        ),
    );
    await mkdir(join(out, ".."), { recursive: true });
    await writeFile(out, html);
    if (args.save) {
      await saveEvaluationRun(db, {
        id: runId,
        createdAt,
        taskName: result.task,
        model: result.model,
        promptVersion: result.promptVersion,
        source: result.source,
        dataFrom: result.dataFrom,
        dataTo: result.dataTo,
        impressions: result.summary.lists,
        positions: result.summary.positions,
        metrics: JSON.parse(
          JSON.stringify({
            ...result.summary,
            historySweep: result.historySweep,
            skipped: result.skipped,
            usage: result.usage,
          }),
        ),
        report: html,
      });
    }
    for (const n of notes) log(n);
    process.stdout.write(
      `${formatTable(result)}\n\nreport: ${out}${args.save ? `  (run ${runId} kept)` : ""}\n`,
    );
    process.stdout.write(`${JSON.stringify(summaryLine(result, args.save ? runId : null, out))}\n`);
  } finally {
    await closeAll();
  }
}

runCommand("eval", USAGE, main);
