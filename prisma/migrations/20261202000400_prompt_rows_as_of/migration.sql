-- prompt_rows takes the time the prompt is built as of: history is what happened before it. A
-- served ranking passes 'infinity' (everything stored so far); offline evaluation passes the
-- impression's time, so no interaction from after the impression leaks into its prompt.
DROP FUNCTION "prompt_rows"(TEXT, TEXT[], TEXT, TIMESTAMP(3), INTEGER, TEXT[]);

CREATE FUNCTION "prompt_rows"(
    member_id TEXT,
    actions TEXT[],
    item_type TEXT,
    since TIMESTAMP(3),
    until TIMESTAMP(3),
    max_items INTEGER,
    item_ids TEXT[]
) RETURNS TABLE ("member" JSON, "history" JSON, "items" JSON)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT
        (SELECT row_to_json(m) FROM "Member" m WHERE m."id" = member_id),
        (SELECT coalesce(json_agg(h), '[]'::json) FROM (
            SELECT i."action", it."title", it."location", it."country", it."company",
                   it."description", it."attributes"
            FROM "Interaction" i JOIN "Item" it ON it."id" = i."itemId"
            WHERE i."memberId" = member_id
              AND i."action" = ANY(actions)
              AND it."type" = item_type
              AND i."occurredAt" >= since
              AND i."occurredAt" < until
            ORDER BY i."occurredAt" DESC, i."id" DESC
            LIMIT max_items
        ) h),
        (SELECT coalesce(json_agg(c), '[]'::json) FROM "Item" c WHERE c."id" = ANY(item_ids));
END
$$;

-- Offline evaluation reads a task's impressions over a time window.
CREATE INDEX "Impression_taskName_createdAt_idx" ON "Impression"("taskName", "createdAt");
