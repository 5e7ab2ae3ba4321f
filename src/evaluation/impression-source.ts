import type { Db } from "../db/client";
import { impressionsInWindow, interactionCountsBefore, itemCreationTimes } from "../db/evaluation-data";
import { outcomesOf } from "../db/outcomes";
import type { TaskDefinition } from "../domain/task-definition";
import type { TextTokenizer } from "../prompt/tokenizer";
import { type PromptPathCaches, preparePrompt } from "../ranking/prompts";
import type { EvalList, EvalSource } from "./lists";

export interface ImpressionSourceOptions {
  db: Db;
  tokenizer: TextTokenizer;
  task: TaskDefinition;
  /** Impressions shown at or after this time... */
  from: Date;
  /** ...and before this one. */
  to: Date;
  /** The attribution window outcomes are joined with (src/db/outcomes.ts). */
  attributionWindowMs: number;
  /** The prefix budget of served rankings (PROMPT_MAX_TOKENS) when the task sets none. */
  maxPrefixTokens: number;
  /** The model's context (ModelInfo.maxContext), when known. */
  maxContextTokens?: number;
  /** Most impressions read. */
  limit: number;
  caches?: PromptPathCaches;
}

/** Outcomes are joined for this many impressions per query. */
const OUTCOME_BATCH = 500;

/**
 * Logged impressions of a task and what followed them, replayed as of their time: prompts through
 * the served path (`preparePrompt`: same rows, template, tokenizer and budget) with history from
 * before the impression only, popularity from events before it. Positions a simulator recorded
 * with their true probabilities carry them, so the oracle is scored where every position has them.
 */
export async function impressionSource(opts: ImpressionSourceOptions): Promise<EvalSource> {
  const { db, task } = opts;
  const stored = await impressionsInWindow(db, task.name, opts.from, opts.to, opts.limit);
  const outcomes = new Map<string, { action: string | null; at: Date | null }>();
  for (let i = 0; i < stored.length; i += OUTCOME_BATCH) {
    const ids = stored.slice(i, i + OUTCOME_BATCH).map((s) => s.id);
    for (const o of await outcomesOf(db, ids, opts.attributionWindowMs)) {
      outcomes.set(`${o.impressionId}\u0000${o.itemId}`, { action: o.action, at: o.occurredAt });
    }
  }
  const lists: EvalList[] = stored.map((s) => ({
    id: s.id,
    memberId: s.memberId,
    at: s.createdAt,
    candidates: s.itemIds.map((itemId, k) => {
      const o = outcomes.get(`${s.id}\u0000${itemId}`);
      const truth = s.trueProbabilities[k];
      return {
        itemId,
        outcome: o?.action ?? null,
        outcomeAt: o?.at ?? null,
        // A simulator's impressions know each position's truth: the oracle scores them.
        ...(truth ? { trueProbabilities: truth } : {}),
      };
    }),
  }));
  const ids = (list: EvalList) => list.candidates.map((c) => c.itemId);
  return {
    name: "impressions",
    dataFrom: opts.from,
    dataTo: opts.to,
    task,
    lists,
    async prompt(list, maxHistoryTokens) {
      const { prompt } = await preparePrompt(db, opts.tokenizer, opts.maxPrefixTokens, {
        memberId: list.memberId,
        taskName: task.name,
        task,
        candidateIds: ids(list),
        maxContextTokens: opts.maxContextTokens,
        caches: opts.caches,
        asOf: list.at,
        maxHistoryTokens,
      });
      return prompt;
    },
    popularity: (list) => interactionCountsBefore(db, ids(list), list.at),
    createdAt: (list) => itemCreationTimes(db, ids(list)),
  };
}
