import type { Item, Member } from "@prisma/client";
import { type Db, sql } from "../db/client";
import { badInput, notFound, UserFacingError } from "../errors";
import { type BuiltPrompt, buildPrompt, type PromptCaches, PromptTooLongError } from "../prompt/builder";
import type { TaskDefinition } from "../prompt/task-definition";
import type { HistoryEntry, ItemFields } from "../prompt/template";
import type { TextTokenizer } from "../prompt/tokenizer";
import { readTask, type TaskCache } from "./task-cache";

export const MAX_CANDIDATES = 500;

/** What a process keeps on the prompt path: tokenized prompt parts and task definitions. */
export type PromptPathCaches = PromptCaches & { tasks?: TaskCache };

/** What a prompt needs from the database; `member` is null when there is no such member. */
interface PromptRows {
  member: Member | null;
  /** Past interactions with items of the task's type, newest first, per the task's policy. */
  history: HistoryEntry[];
  /** The rows of the candidates found, in no particular order. */
  items: Item[];
}

/** A timestamp(3) column as `row_to_json` writes it (UTC, no zone suffix). */
const utc = (s: string) => new Date(`${s}Z`);

/**
 * The member, their history and the candidate rows in one round trip: this runs on every ranking
 * and explanation, and each separate query costs a trip and the client's per-query work. The
 * history is a join on the (memberId, occurredAt) index.
 */
async function loadPromptRows(
  db: Db,
  memberId: string,
  candidateIds: string[],
  task: TaskDefinition,
): Promise<PromptRows> {
  const { maxItems, lookbackDays } = task.historyPolicy;
  const since = lookbackDays ? new Date(Date.now() - lookbackDays * 86_400_000) : new Date(0);
  // The query is the `prompt_rows` function of the migrations, so its plan is kept between calls.
  const [row] = await sql<{
    member: (Omit<Member, "createdAt" | "updatedAt"> & { createdAt: string; updatedAt: string }) | null;
    history: (ItemFields & { action: string })[];
    items: (Omit<Item, "createdAt" | "updatedAt"> & { createdAt: string; updatedAt: string })[];
  }>(
    db,
    `SELECT "member", "history", "items" FROM prompt_rows(
       $1, $2::text[], $3, ($4::timestamptz AT TIME ZONE 'UTC'), $5::int, $6::text[])`,
    [memberId, task.actions.map((a) => a.action), task.itemType, since.toISOString(), maxItems, candidateIds],
  );
  const { member, history, items } = row;
  return {
    member: member && { ...member, createdAt: utc(member.createdAt), updatedAt: utc(member.updatedAt) },
    history: history.map(({ action, ...item }) => ({ action, item })),
    items: items.map((it) => ({ ...it, createdAt: utc(it.createdAt), updatedAt: utc(it.updatedAt) })),
  };
}

/** The request's candidate ids, checked before anything is read. */
function checkCandidateIds(ids: string[]): void {
  if (ids.length === 0) throw badInput("candidateIds must not be empty", { argument: "candidateIds" });
  if (ids.length > MAX_CANDIDATES) {
    throw badInput(`at most ${MAX_CANDIDATES} candidates per request, got ${ids.length}`, {
      argument: "candidateIds",
    });
  }
  if (new Set(ids).size !== ids.length)
    throw badInput("candidateIds contains duplicates", { argument: "candidateIds" });
}

/** Candidate rows in the order asked; unknown ids and items of another type are client errors. */
function orderCandidates(ids: string[], rows: Item[], task: TaskDefinition): Item[] {
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
  /** The process's caches: tokenized prompt parts and task definitions. */
  caches?: PromptPathCaches;
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
  const rows = await loadPromptRows(db, req.memberId, req.candidateIds, task);
  if (!rows.member) throw notFound("Member", req.memberId);
  const { member, history } = rows;
  const candidates = orderCandidates(req.candidateIds, rows.items, task);
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
