-- AlterTable: an interaction may name the impression it answers.
ALTER TABLE "Interaction" ADD COLUMN "impressionId" TEXT;

-- CreateIndex
CREATE INDEX "Interaction_impressionId_idx" ON "Interaction"("impressionId");
