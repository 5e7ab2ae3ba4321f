import type { ImpressionRecord } from "../domain/impression";
import { type Db, sql } from "./client";

/**
 * Writes impressions, and one ImpressionItem row per shown position (what outcomes are joined
 * to, with the position's true probabilities where a simulator knew them), in one statement. Ids already stored are left as they are, their positions too, so a batch
 * whose first attempt committed without its answer reaching the gateway can be written again
 * safely.
 */
export async function insertImpressions(db: Db, batch: ImpressionRecord[]): Promise<void> {
  await sql(
    db,
    `WITH stored AS (
       INSERT INTO "Impression"
         ("id", "requestId", "memberId", "taskName", "model", "promptVersion", "createdAt", "candidates")
       -- UTC, as Prisma stores DateTime, whatever the session's time zone
       SELECT u.id, u.request, u.member, u.task, u.model, u.prompt, (u.at AT TIME ZONE 'UTC'), u.shown::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
         AS u(id, request, member, task, model, prompt, at, shown)
       ON CONFLICT ("id") DO NOTHING
       RETURNING "id", "memberId", "createdAt", "candidates")
     INSERT INTO "ImpressionItem" ("impressionId", "rank", "itemId", "memberId", "createdAt", "trueProbabilities")
     SELECT s."id", (c->>'rank')::int, c->>'itemId', s."memberId", s."createdAt",
            CASE WHEN jsonb_typeof(c->'trueProbabilities') = 'object' THEN c->'trueProbabilities' END
     FROM stored s, jsonb_array_elements(s."candidates") c`,
    [
      batch.map((i) => i.id),
      batch.map((i) => i.requestId),
      batch.map((i) => i.memberId),
      batch.map((i) => i.taskName),
      batch.map((i) => i.model),
      batch.map((i) => i.promptVersion),
      batch.map((i) => i.createdAt.toISOString()),
      batch.map((i) => JSON.stringify(i.candidates)),
    ],
  );
}
