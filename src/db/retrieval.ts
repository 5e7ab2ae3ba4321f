import type { TaskDefinition } from "../domain/task-definition";
import { type Db, sql } from "./client";

/**
 * Retrieval when the client names no candidates: the newest items of the task's item type that
 * the member has not interacted with yet. Deliberately simple and predictable; a real candidate
 * generator can replace it by passing candidateIds. Plain SQL on the pool, as the prompt query
 * (the model API's relation filter costs more CPU per ranking), served by the (type, createdAt)
 * index.
 */
export async function retrieveCandidates(
  db: Db,
  memberId: string,
  task: TaskDefinition,
  limit: number,
): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    db,
    `SELECT it."id" FROM "Item" it
     WHERE it."type" = $1
       AND NOT EXISTS (SELECT 1 FROM "Interaction" i WHERE i."itemId" = it."id" AND i."memberId" = $2)
     ORDER BY it."createdAt" DESC, it."id" ASC
     LIMIT $3`,
    [task.itemType, memberId, limit],
  );
  return rows.map((r) => r.id);
}
