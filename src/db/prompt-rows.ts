import type { Item, Member } from "@prisma/client";
import type { TaskDefinition } from "../domain/task-definition";
import { type Db, sql } from "./client";

/** A past interaction as a prompt shows it: the action and the item's fields. */
export interface HistoryRow {
  action: string;
  item: {
    title: string;
    company: string | null;
    location: string | null;
    country: string | null;
    description: string | null;
    attributes?: unknown;
  };
}

/** What a prompt needs from the database; `member` is null when there is no such member. */
export interface PromptRows {
  member: Member | null;
  /** Past interactions with items of the task's type, newest first, per the task's policy. */
  history: HistoryRow[];
  /** The rows of the candidates found, in no particular order. */
  items: Item[];
}

/** A timestamp(3) column as `row_to_json` writes it (UTC, no zone suffix). */
const utc = (s: string) => new Date(`${s}Z`);

type Dated<T> = Omit<T, "createdAt" | "updatedAt"> & { createdAt: string; updatedAt: string };

/**
 * The member, their history and the candidate rows in one round trip: this runs on every ranking
 * and explanation, and each separate query costs a trip and the client's per-query work. The
 * query is the `prompt_rows` function of the migrations, so its plan is kept between calls; the
 * history is a join on the (memberId, occurredAt) index.
 *
 * `asOf` builds the prompt as it was at that time: only interactions that happened before it, and
 * the task's lookback counted back from it (offline evaluation replays impressions this way).
 * Unset: everything stored so far. Profiles and item rows are read as they are now.
 */
export async function loadPromptRows(
  db: Db,
  memberId: string,
  candidateIds: string[],
  task: TaskDefinition,
  asOf?: Date,
): Promise<PromptRows> {
  const { maxItems, lookbackDays } = task.historyPolicy;
  const now = asOf?.getTime() ?? Date.now();
  const since = lookbackDays ? new Date(now - lookbackDays * 86_400_000) : new Date(0);
  const [row] = await sql<{
    member: Dated<Member> | null;
    history: (HistoryRow["item"] & { action: string })[];
    items: Dated<Item>[];
  }>(
    db,
    `SELECT "member", "history", "items" FROM prompt_rows(
       $1, $2::text[], $3, ($4::timestamptz AT TIME ZONE 'UTC'), ($5::timestamptz AT TIME ZONE 'UTC'),
       $6::int, $7::text[])`,
    [
      memberId,
      task.actions.map((a) => a.action),
      task.itemType,
      since.toISOString(),
      asOf ? asOf.toISOString() : "infinity",
      maxItems,
      candidateIds,
    ],
  );
  const { member, history, items } = row;
  return {
    member: member && { ...member, createdAt: utc(member.createdAt), updatedAt: utc(member.updatedAt) },
    history: history.map(({ action, ...item }) => ({ action, item })),
    items: items.map((it) => ({ ...it, createdAt: utc(it.createdAt), updatedAt: utc(it.updatedAt) })),
  };
}
