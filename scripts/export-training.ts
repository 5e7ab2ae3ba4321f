import { createWriteStream, existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { finished } from "node:stream/promises";
import { ensureDemoModel } from "../dev/demo-model";
import { loadConfig } from "../src/config";
import { impressionSource } from "../src/evaluation/impression-source";
import { exportList, SPLITS, type SplitName, splitByTime } from "../src/evaluation/training-export";
import { prefixBudget, readModelCard } from "../src/inference/model-card";
import { TextTokenizer } from "../src/prompt/tokenizer";
import { promptVersion } from "../src/prompt/version";
import { readTask } from "../src/ranking/task-cache";
import { isoTime, parseFlags, positiveInt, runCommand, UsageError } from "./cli";
import { type OpenDatabase, openDatabase, stopOnSignals } from "./local-services";

const USAGE = `npm run export:training -- [options]

Writes labelled impressions as 360Brew training examples, split by time into train / validation /
test, in two JSON Lines files per split:
  <split>.jsonl      one line per shown position: the prompt as text and the answer the member gave
  <split>.ids.jsonl  one line per impression: the shared prefix's token ids (BOS included) once, each
                     candidate's suffix ids and answer, and the ids of every answer label, exactly as
                     the gateway sends them to the sidecar (what training/train.py reads)

  --task NAME            task (default job_apply)
  --from TIME --to TIME  impressions shown in [from, to) (ISO 8601; default: all whose attribution
                         window has closed)
  --split A,B,C          fractions of train, validation, test, oldest first (default 0.8,0.1,0.1)
  --gap-ms N             impressions this close before the next split's start are left out, so no
                         outcome of one split can fall in the next (default ATTRIBUTION_WINDOW_MS;
                         smaller when outcomes are known to come sooner: fewer impressions lost)
  --model-dir DIR        checkpoint whose tokenizer and context bound the prompts (default: MODEL_DIR
                         or the demo model)
  --tokenizer PATH       the tokenizer.json to count history tokens with (default: the model's)
  --limit N              at most N impressions, oldest first (default 100000)
  --out DIR              where to write (default DATA_DIR/training/<task>)`;

function parse(argv: string[]) {
  const values = parseFlags(
    argv,
    {
      task: { type: "string", default: "job_apply" },
      from: { type: "string" },
      to: { type: "string" },
      split: { type: "string", default: "0.8,0.1,0.1" },
      "gap-ms": { type: "string" },
      "model-dir": { type: "string" },
      tokenizer: { type: "string" },
      limit: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
    USAGE,
  );
  const fractions = values.split.split(",").map(Number);
  if (
    fractions.length !== 3 ||
    fractions.some((f) => !(f >= 0)) ||
    Math.abs(fractions[0] + fractions[1] + fractions[2] - 1) > 1e-9
  ) {
    throw new UsageError(`--split takes three fractions that add up to 1, got '${values.split}'`);
  }
  const gapMs = values["gap-ms"] === undefined ? undefined : Number(values["gap-ms"]);
  if (gapMs !== undefined && !(Number.isInteger(gapMs) && gapMs >= 0)) {
    throw new UsageError(`--gap-ms must be a whole number of milliseconds >= 0, got '${values["gap-ms"]}'`);
  }
  return {
    task: values.task,
    gapMs,
    from: isoTime("from", values.from),
    to: isoTime("to", values.to),
    fractions: fractions as [number, number, number],
    modelDir: values["model-dir"],
    tokenizer: values.tokenizer,
    limit: positiveInt("limit", values.limit, 100_000),
    out: values.out,
  };
}

async function main() {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const args = parse(process.argv.slice(2));
  const config = loadConfig();
  const log = (line: string) => process.stderr.write(`export: ${line}\n`);

  const modelDir = args.modelDir ?? config.MODEL_DIR ?? ensureDemoModel(config.DATA_DIR);
  const tokenizerPath =
    args.tokenizer ?? (args.modelDir ? undefined : config.TOKENIZER_PATH) ?? join(modelDir, "tokenizer.json");
  const tokenizer = await TextTokenizer.fromFile(tokenizerPath);
  const card = readModelCard(modelDir);

  let database: OpenDatabase | null = null;
  stopOnSignals(log, async () => {
    await database?.close();
  });
  try {
    database = await openDatabase(config);
    log(`database: ${database.describe}`);
    const task = await readTask(database.db, args.task);
    const settled = new Date(Date.now() - config.ATTRIBUTION_WINDOW_MS);
    const source = await impressionSource({
      db: database.db,
      tokenizer,
      task,
      from: args.from ?? new Date(0),
      to: args.to && args.to < settled ? args.to : settled,
      attributionWindowMs: config.ATTRIBUTION_WINDOW_MS,
      maxPrefixTokens: prefixBudget(config.PROMPT_MAX_TOKENS, card.prefixTokens),
      maxContextTokens: card.maxContext ?? undefined,
      limit: args.limit,
    });
    if (source.lists.length === 0) {
      throw new Error(
        `no labelled impressions of task '${task.name}' shown in [${source.dataFrom?.toISOString()}, ${source.dataTo?.toISOString()})`,
      );
    }
    const gapMs = args.gapMs ?? config.ATTRIBUTION_WINDOW_MS;
    const split = splitByTime(source.lists, args.fractions, gapMs);
    const version = promptVersion(task);
    const outDir = resolve(args.out ?? join(config.DATA_DIR, "training", task.name));
    await mkdir(outDir, { recursive: true });

    const counts = {} as Record<
      SplitName,
      { impressions: number; examples: number; withAnswer: number; positive: number }
    >;
    for (const name of SPLITS) {
      const file = createWriteStream(join(outDir, `${name}.jsonl`));
      const idsFile = createWriteStream(join(outDir, `${name}.ids.jsonl`));
      const write = async (stream: typeof file, value: unknown) => {
        if (!stream.write(`${JSON.stringify(value)}\n`))
          await new Promise<void>((r) => stream.once("drain", () => r()));
      };
      const c = { impressions: 0, examples: 0, withAnswer: 0, positive: 0 };
      for (const list of split.lists[name]) {
        const exported = await exportList(source, list, name, version).catch((err) => {
          // As the served path would refuse it (a member or item gone, a prompt over budget).
          log(`impression ${list.id} left out: ${(err as Error).message}`);
          return null;
        });
        if (!exported) continue;
        c.impressions++;
        for (const e of exported.examples) {
          c.examples++;
          if (e.completion !== null) c.withAnswer++;
          if (e.positive) c.positive++;
          await write(file, e);
        }
        await write(idsFile, exported.impression);
      }
      file.end();
      idsFile.end();
      await Promise.all([finished(file), finished(idsFile)]);
      counts[name] = c;
    }
    const manifest = {
      task: task.name,
      promptVersion: version,
      tokenizer: tokenizerPath,
      data: { from: source.dataFrom, to: source.dataTo, attributionWindowMs: config.ATTRIBUTION_WINDOW_MS },
      split: {
        fractions: args.fractions,
        gapMs,
        validationFrom: split.validationFrom,
        testFrom: split.testFrom,
        impressionsInGap: split.inGap,
        lateOutcomesDropped: split.lateOutcomes,
      },
      counts,
      idsFormat:
        "<split>.ids.jsonl, one JSON object per impression: prefixIds (the shared prefix as the sidecar gets it, the tokenizer's leading special ids included), labels (every answer of the task in its order: action, completion text, positive, ids), candidates (itemId, position, suffix text, suffixIds, action, answer = index into labels or null when the member gave no answer of the task, positive), and where it came from (impressionId, memberId, shownAt, historyUsed, historyAvailable)",
      format:
        "<split>.jsonl, one JSON object per line: prompt (the 360Brew prompt up to 'Answer: The member will'), completion (the member's answer as the model continues the prompt, e.g. ' apply'; null when the member did nothing with the item), action, positive, and where it came from (impressionId, memberId, itemId, position, shownAt)",
      createdAt: new Date(),
    };
    await writeFile(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const name of SPLITS) {
      const c = counts[name];
      process.stdout.write(
        `${name.padEnd(11)} ${String(c.impressions).padStart(6)} impressions  ${String(c.examples).padStart(7)} examples  ${String(c.withAnswer).padStart(6)} answered  ${String(c.positive).padStart(6)} positive  ${join(outDir, `${name}.jsonl`)}\n`,
      );
    }
    process.stdout.write(
      `${split.inGap} impressions left out in the gaps between splits, ${split.lateOutcomes} late outcomes dropped; manifest ${join(outDir, "manifest.json")}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({ task: task.name, prompt_version: version, out: outDir, in_gap: split.inGap, late_outcomes: split.lateOutcomes, ...Object.fromEntries(SPLITS.map((n) => [n, counts[n]])) })}\n`,
    );
  } finally {
    await database?.close();
  }
}

runCommand("export", USAGE, main);
