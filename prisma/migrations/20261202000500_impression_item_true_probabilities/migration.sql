-- A shown position's known true probability of each answer ({"APPLY": 0.31, "VIEW": 0.2, ...}),
-- recorded only where a simulator made the impression (dev/marketplace.ts), so offline evaluation
-- can score the oracle on stored impressions. Served rankings know no truth: NULL.
ALTER TABLE "ImpressionItem" ADD COLUMN "trueProbabilities" JSONB;

-- Impressions stored before this migration get theirs from their candidates, where they had any.
UPDATE "ImpressionItem" ii
SET "trueProbabilities" = c->'trueProbabilities'
FROM "Impression" imp, jsonb_array_elements(imp."candidates") c
WHERE imp."id" = ii."impressionId"
  AND (c->>'rank')::int = ii."rank"
  AND jsonb_typeof(c->'trueProbabilities') = 'object';
