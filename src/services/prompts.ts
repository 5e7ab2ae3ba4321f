import type { Item } from "@prisma/client";
import type { Db } from "../db/client";
import { badInput, notFound, UserFacingError } from "../errors";
import { type BuiltPrompt, buildPrompt, type PromptCaches, PromptTooLongError } from "../prompt/builder";
import type { TaskDefinition } from "../prompt/task-definition";
import type { HistoryEntry, ItemFields } from "../prompt/template";
import type { TextTokenizer } from "../prompt/tokenizer";
import { readTask, type TaskCache } from "./task-cache";

export const MAX_CANDIDATES = 500;

/**
 * The member's past interactions with items of the task's type, newest first, per the policy.
 * One round trip (a join on the (memberId, occurredAt) index): this runs on every ranking.
 */
export async function loadHistory(db: Db, memberId: string, task: TaskDefinition): Promise<HistoryEntry[]> {
  const { maxItems, lookbackDays } = task.historyPolicy;
  if (maxItems === 0) return [];
  const since = lookbackDays ? new Date(Date.now() - lookbackDays * 86_400_000) : new Date(0);
  const rows = await db.$queryRaw<(ItemFields & { action: string })[]>`
    SELECT i."action", it."title", it."location", it."country", it."company", it."description", it."attributes"
    FROM "Interaction" i JOIN "Item" it ON it."id" = i."itemId"
    WHERE i."memberId" = ${memberId}
      AND i."action" = ANY(${task.actions.map((a) => a.action)}::text[])
      AND it."type" = ${task.itemType}
      AND i."occurredAt" >= ${since}
    ORDER BY i."occurredAt" DESC, i."id" DESC
    LIMIT ${maxItems}`;
  return rows.map(({ action, ...item }) => ({ action, item }));
}

/** Candidate items in the order asked; unknown ids are a client error naming them. */
export async function loadCandidates(db: Db, ids: string[], task: TaskDefinition): Promise<Item[]> {
  if (ids.length === 0) throw badInput("candidateIds must not be empty", { argument: "candidateIds" });
  if (ids.length > MAX_CANDIDATES) {
    throw badInput(`at most ${MAX_CANDIDATES} candidates per request, got ${ids.length}`, {
      argument: "candidateIds",
    });
  }
  if (new Set(ids).size !== ids.length)
    throw badInput("candidateIds contains duplicates", { argument: "candidateIds" });
  const rows = await db.item.findMany({ where: { id: { in: ids } } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new UserFacingError("NOT_FOUND", `unknown candidate items: ${missing.join(", ")}`, {
      itemIds: missing,
    });
  }
  const wrongType = rows.filter((r) => r.type !== task.itemType).map((r) => r.id);
  if (wrongType.length > 0) {
    throw badInput(
      `task '${task.name}' ranks ${task.itemType} items; not of that type: ${wrongType.join(", ")}`,
      {
        argument: "candidateIds",
      },
    );
  }
  return ids.map((id) => byId.get(id) as Item);
}

export function requireTokenizer(tokenizer: TextTokenizer | null): TextTokenizer {
  if (!tokenizer) {
    throw new UserFacingError("UNAVAILABLE", "no tokenizer is configured (set MODEL_DIR or TOKENIZER_PATH)");
  }
  return tokenizer;
}

export interface PromptRequest {
  memberId: string;
  taskName: string;
  /** The task, when the caller has read it already. */
  task?: TaskDefinition;
  candidateIds: string[];
  /** The model's context (ModelInfo.maxContext): the prefix leaves room for suffixes and labels. */
  maxContextTokens?: number;
  /** Tokens to keep free beyond the longest suffix and label (an explanation's generation). */
  reserveTokens?: number;
  /** The process's caches of tokenized prompt parts. */
  caches?: PromptCaches;
  /** The process's cache of task definitions. */
  tasks?: TaskCache;
}

/** Everything a ranking needs from the database, rendered and tokenized. */
export async function preparePrompt(
  db: Db,
  tokenizer: TextTokenizer,
  defaultMaxTokens: number,
  req: PromptRequest,
): Promise<{ task: TaskDefinition; prompt: BuiltPrompt; candidates: Item[] }> {
  // The task first (from the cache, nearly always), then everything else in one round trip.
  const task = req.task ?? (await readTask(db, req.taskName, req.tasks));
  const [member, history, candidates] = await Promise.all([
    db.member.findUnique({ where: { id: req.memberId } }),
    loadHistory(db, req.memberId, task),
    // Settled here so that an unknown member is reported before unknown candidates.
    loadCandidates(db, req.candidateIds, task).catch((err: unknown) => err as Error),
  ]);
  if (!member) throw notFound("Member", req.memberId);
  if (candidates instanceof Error) throw candidates;
  try {
    const prompt = await buildPrompt(tokenizer, {
      task,
      member,
      history,
      candidates,
      maxPrefixTokens: task.historyPolicy.maxTokens ?? defaultMaxTokens,
      maxContextTokens: req.maxContextTokens,
      reserveTokens: req.reserveTokens,
      caches: req.caches,
    });
    return { task, prompt, candidates };
  } catch (err) {
    if (err instanceof PromptTooLongError) throw badInput(err.message);
    throw err;
  }
}
