import { REQUEST_LIMITS } from "../config/limits";
import { badInput } from "../domain/errors";
import type { Connection } from "../schema/connection.type";

const encodeCursor = (id: string) => Buffer.from(`id:${id}`, "utf8").toString("base64url");

function decodeCursor(cursor: string): string {
  const raw = Buffer.from(cursor, "base64url").toString("utf8");
  if (!raw.startsWith("id:") || encodeCursor(raw.slice(3)) !== cursor) {
    throw badInput(`invalid cursor '${cursor}'`, { argument: "after" });
  }
  return raw.slice(3);
}

export interface PageArgs {
  first: number;
  after?: string | null;
}

/**
 * Forward pagination ordered by id. `fetch` receives the id to start after (exclusive) and how
 * many rows to read; one extra row tells whether a next page exists.
 */
export async function paginate<T extends { id: string }>(
  args: PageArgs,
  fetch: (afterId: string | undefined, take: number) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<Connection<T>> {
  const max = REQUEST_LIMITS.maxPageSize;
  if (!Number.isInteger(args.first) || args.first < 1 || args.first > max) {
    throw badInput(`first must be between 1 and ${max}, got ${args.first}`, { argument: "first" });
  }
  const afterId = args.after ? decodeCursor(args.after) : undefined;
  const [rows, totalCount] = await Promise.all([fetch(afterId, args.first + 1), count()]);
  const page = rows.slice(0, args.first);
  const edges = page.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    totalCount,
    pageInfo: {
      hasNextPage: rows.length > args.first,
      hasPreviousPage: afterId !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
