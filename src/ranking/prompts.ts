import type { Item } from "@prisma/client";
import { REQUEST_LIMITS } from "../config/limits";
import type { Db } from "../db/client";
import { loadPromptRows } from "../db/prompt-rows";
import { badInput, DomainError, notFound, unavailable } from "../domain/errors";
import type { TaskDefinition } from "../domain/task-definition";
import { inSpan } from "../observability/tracing";
import { type BuiltPrompt, buildPrompt, type PromptCaches, PromptTooLongError } from "../prompt/builder";
import type { TextTokenizer } from "../prompt/tokenizer";
import { readTask, type TaskCache } from "./task-cache";

/** What a process keeps on the prompt path: tokenized prompt parts and task definitions. */
export type PromptPathCaches = PromptCaches & { tasks?: TaskCache };

/** The request's candidate ids, checked before anything is read. */
function checkCandidateIds(ids: string[]): void {
  const max = REQUEST_LIMITS.maxCandidates;
  if (ids.length === 0) throw badInput("candidateIds must not be empty", { argument: "candidateIds" });
  if (ids.length > max) {
    throw badInput(`at most ${max} candidates per request, got ${ids.length}`, { argument: "candidateIds" });
  }
  if (new Set(ids).size !== ids.length)
    throw badInput("candidateIds contains duplicates", { argument: "candidateIds" });
}

/** Candidate rows in the order asked; unknown ids and items of another type are client errors. */
function orderCandidates(ids: string[], rows: Item[], task: TaskDefinition): Item[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new DomainError("NOT_FOUND", `unknown candidate items: ${missing.join(", ")}`, {
      itemIds: missing,
    });
  }
  const wrongType = rows.filter((r) => r.type !== task.itemType).map((r) => r.id);
  if (wrongType.length > 0) {
    throw badInput(
      `task '${task.name}' ranks ${task.itemType} items; not of that type: ${wrongType.join(", ")}`,
      { argument: "candidateIds" },
    );
  }
  return ids.map((id) => byId.get(id) as Item);
}

export function requireTokenizer(tokenizer: TextTokenizer | null): TextTokenizer {
  if (!tokenizer) throw unavailable("no tokenizer is configured (set MODEL_DIR or TOKENIZER_PATH)");
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
  /** The process's caches: tokenized prompt parts and task definitions. */
  caches?: PromptPathCaches;
  /** Build the prompt as it was at this time (history before it only); unset: now. */
  asOf?: Date;
  /** Most tokens of history in the prefix (BuildInput.maxHistoryTokens); unset: the task's budget. */
  maxHistoryTokens?: number;
}

/** Everything a ranking needs from the database, rendered and tokenized. */
export async function preparePrompt(
  db: Db,
  tokenizer: TextTokenizer,
  defaultMaxTokens: number,
  req: PromptRequest,
): Promise<{ task: TaskDefinition; prompt: BuiltPrompt; candidates: Item[] }> {
  checkCandidateIds(req.candidateIds);
  // The task first (from the cache, nearly always), then everything else in one round trip.
  const task = req.task ?? (await readTask(db, req.taskName, req.caches?.tasks));
  const rows = await inSpan(
    "db.prompt_rows",
    { "db.system": "postgresql", "brewgate.candidates": req.candidateIds.length },
    () => loadPromptRows(db, req.memberId, req.candidateIds, task, req.asOf),
  );
  if (!rows.member) throw notFound("Member", req.memberId);
  const { member, history } = rows;
  const candidates = orderCandidates(req.candidateIds, rows.items, task);
  try {
    const prompt = await inSpan("prompt.build", { "brewgate.task": task.name }, async (span) => {
      const built = await buildPrompt(tokenizer, {
        task,
        member,
        history,
        candidates,
        maxPrefixTokens: task.historyPolicy.maxTokens ?? defaultMaxTokens,
        maxContextTokens: req.maxContextTokens,
        reserveTokens: req.reserveTokens,
        maxHistoryTokens: req.maxHistoryTokens,
        caches: req.caches,
      });
      span.setAttributes({
        "brewgate.prefix_tokens": built.prefixIds.length,
        "brewgate.history_used": built.historyUsed,
      });
      return built;
    });
    return { task, prompt, candidates };
  } catch (err) {
    if (err instanceof PromptTooLongError) throw badInput(err.message);
    throw err;
  }
}
