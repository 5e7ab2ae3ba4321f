import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { z } from "zod";
import { badInput } from "../domain/errors";
import type { TaskDefinition } from "../domain/task-definition";
import { buildPrompt, type PromptCaches, PromptTooLongError } from "../prompt/builder";
import type { HistoryEntry } from "../prompt/template";
import type { TextTokenizer } from "../prompt/tokenizer";
import type { EvalList, EvalSource } from "./lists";

/**
 * A dataset file: JSON Lines, one evaluated list per line:
 *
 *   {"id": "list-1", "at": "2026-03-01T09:00:00Z",
 *    "member": {"id": "m1", "currentPosition": "software engineer", "skills": ["Go"], ...},
 *    "history": [{"action": "APPLY", "occurredAt": "2026-02-20T10:00:00Z",
 *                 "item": {"id": "job-9", "title": "Data Engineer", "company": "Stripe", ...}}],
 *    "candidates": [{"item": {"id": "job-1", "title": "Software Engineer", "createdAt": "..."},
 *                    "outcome": "APPLY", "trueProbabilities": {"APPLY": 0.31, "VIEW": 0.4}}]}
 *
 * `outcome` is what the member did (null: nothing); `trueProbabilities` (optional, on every
 * candidate or none) are a simulator's known probabilities, scored as the oracle. History entries
 * at or after `at` are dropped, as the database path drops them, so a file cannot leak the future
 * into a prompt.
 */
const itemSchema = z.object({
  id: z.string().min(1),
  title: z.string().min(1),
  company: z.string().nullish(),
  location: z.string().nullish(),
  country: z.string().nullish(),
  description: z.string().nullish(),
  attributes: z.record(z.string(), z.unknown()).nullish(),
  createdAt: z.iso.datetime({ offset: true }).nullish(),
});

const lineSchema = z.object({
  id: z.string().min(1),
  at: z.iso.datetime({ offset: true }),
  member: z.object({
    id: z.string().min(1),
    currentPosition: z.string().nullish(),
    currentCompany: z.string().nullish(),
    location: z.string().nullish(),
    skills: z.array(z.string()).nullish(),
    yearsOfExperience: z.number().int().nullish(),
    summary: z.string().nullish(),
  }),
  history: z
    .array(
      z.object({ action: z.string().min(1), occurredAt: z.iso.datetime({ offset: true }), item: itemSchema }),
    )
    .default([]),
  candidates: z
    .array(
      z.object({
        item: itemSchema,
        outcome: z.string().nullable(),
        trueProbabilities: z.record(z.string(), z.number().min(0).max(1)).optional(),
      }),
    )
    .min(1),
});

type DatasetLine = z.infer<typeof lineSchema>;

/** Reads and checks a dataset file; an error names the line and the field at fault. */
export async function readDataset(path: string): Promise<DatasetLine[]> {
  const text = await readFile(path, "utf8");
  const lines: DatasetLine[] = [];
  const ids = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    const where = `${path}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`);
    }
    const parsed = lineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${where}: ${issue.path.join(".") || "(line)"}: ${issue.message}`);
    }
    const line = parsed.data;
    if (ids.has(line.id)) throw new Error(`${where}: list id '${line.id}' appears twice`);
    ids.add(line.id);
    const itemIds = line.candidates.map((c) => c.item.id);
    if (new Set(itemIds).size !== itemIds.length) throw new Error(`${where}: candidates repeat an item`);
    const withTruth = line.candidates.filter((c) => c.trueProbabilities).length;
    if (withTruth !== 0 && withTruth !== line.candidates.length) {
      throw new Error(`${where}: trueProbabilities must be on every candidate or none`);
    }
    lines.push(line);
  });
  if (lines.length === 0) throw new Error(`${path}: no lists`);
  return lines;
}

export interface DatasetSourceOptions {
  tokenizer: TextTokenizer;
  task: TaskDefinition;
  maxPrefixTokens: number;
  maxContextTokens: number;
  caches?: PromptCaches;
}

/** Lists from a dataset file, prompted with the production builder and tokenizer. */
export async function datasetSource(path: string, opts: DatasetSourceOptions): Promise<EvalSource> {
  const { task } = opts;
  const data = await readDataset(path);
  const byId = new Map(data.map((d) => [d.id, d]));
  const taskActions = new Set(task.actions.map((a) => a.action));

  // Global popularity: every distinct history event of the file, per item, in time order.
  const seen = new Set<string>();
  const eventTimes = new Map<string, number[]>();
  for (const d of data) {
    for (const h of d.history) {
      const t = Date.parse(h.occurredAt);
      const key = `${d.member.id}\u0000${h.item.id}\u0000${h.action}\u0000${t}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const times = eventTimes.get(h.item.id) ?? [];
      times.push(t);
      eventTimes.set(h.item.id, times);
    }
  }
  for (const times of eventTimes.values()) times.sort((a, b) => a - b);
  const countBefore = (times: number[] | undefined, t: number) => {
    if (!times) return 0;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const lists: EvalList[] = data.map((d) => ({
    id: d.id,
    memberId: d.member.id,
    at: new Date(d.at),
    candidates: d.candidates.map((c) => ({
      itemId: c.item.id,
      outcome: c.outcome,
      trueProbabilities: c.trueProbabilities,
    })),
  }));
  const times = lists.map((l) => l.at.getTime());
  const line = (list: EvalList) => byId.get(list.id) as DatasetLine;

  return {
    name: `dataset:${basename(path)}`,
    dataFrom: new Date(Math.min(...times)),
    dataTo: new Date(Math.max(...times) + 1),
    task,
    lists,
    async prompt(list, maxHistoryTokens) {
      const d = line(list);
      const at = list.at.getTime();
      const since = task.historyPolicy.lookbackDays
        ? at - task.historyPolicy.lookbackDays * 86_400_000
        : -Infinity;
      // What the database path selects: the task's actions, before the list's time, newest first.
      const history: HistoryEntry[] = d.history
        .map((h) => ({ h, t: Date.parse(h.occurredAt) }))
        .filter(({ h, t }) => taskActions.has(h.action) && t < at && t >= since)
        .sort((a, b) => b.t - a.t)
        .slice(0, task.historyPolicy.maxItems)
        .map(({ h }) => ({ action: h.action, item: h.item }));
      try {
        return await buildPrompt(opts.tokenizer, {
          task,
          member: d.member,
          history,
          candidates: d.candidates.map((c) => c.item),
          maxPrefixTokens: task.historyPolicy.maxTokens ?? opts.maxPrefixTokens,
          maxContextTokens: opts.maxContextTokens,
          maxHistoryTokens,
          caches: opts.caches,
        });
      } catch (err) {
        // As the served path answers it: the list is refused, not the run.
        if (err instanceof PromptTooLongError) throw badInput(`list ${list.id}: ${err.message}`);
        throw err;
      }
    },
    async popularity(list) {
      const t = list.at.getTime();
      return new Map(list.candidates.map((c) => [c.itemId, countBefore(eventTimes.get(c.itemId), t)]));
    },
    async createdAt(list) {
      const out = new Map<string, number>();
      for (const c of line(list).candidates) {
        if (c.item.createdAt) out.set(c.item.id, Date.parse(c.item.createdAt));
      }
      return out;
    },
  };
}
