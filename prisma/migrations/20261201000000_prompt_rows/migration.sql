-- Everything a prompt needs from the database in one call: the member, their history with items
-- of the task's type (newest first, at most max_items since `since`), and the candidate rows, each
-- as JSON. A PL/pgSQL function so that PostgreSQL keeps the plan of this per-ranking query
-- instead of planning it on every call.
CREATE FUNCTION "prompt_rows"(
    member_id TEXT,
    actions TEXT[],
    item_type TEXT,
    since TIMESTAMP(3),
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
            ORDER BY i."occurredAt" DESC, i."id" DESC
            LIMIT max_items
        ) h),
        (SELECT coalesce(json_agg(c), '[]'::json) FROM "Item" c WHERE c."id" = ANY(item_ids));
END
$$;
