-- The producer's `updatedAt` of the member or item event last applied: an event older than it is
-- not applied (src/db/members.ts, src/db/items.ts); null for rows written without one.
ALTER TABLE "Member" ADD COLUMN "sourceUpdatedAt" TIMESTAMP(3);
ALTER TABLE "Item" ADD COLUMN "sourceUpdatedAt" TIMESTAMP(3);
