-- CreateTable: one row per shown position of an impression, the rows outcomes are joined to.
CREATE TABLE "ImpressionItem" (
    "impressionId" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,
    "itemId" TEXT NOT NULL,
    "memberId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ImpressionItem_pkey" PRIMARY KEY ("impressionId","rank")
);

-- CreateIndex
CREATE INDEX "ImpressionItem_memberId_itemId_createdAt_idx" ON "ImpressionItem"("memberId", "itemId", "createdAt");

-- CreateIndex
CREATE INDEX "Interaction_memberId_itemId_occurredAt_idx" ON "Interaction"("memberId", "itemId", "occurredAt");

-- AddForeignKey
ALTER TABLE "ImpressionItem" ADD CONSTRAINT "ImpressionItem_impressionId_fkey" FOREIGN KEY ("impressionId") REFERENCES "Impression"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Impressions stored before this migration get their rows from their candidates.
INSERT INTO "ImpressionItem" ("impressionId", "rank", "itemId", "memberId", "createdAt")
SELECT imp."id", (c->>'rank')::int, c->>'itemId', imp."memberId", imp."createdAt"
FROM "Impression" imp, jsonb_array_elements(imp."candidates") c;
