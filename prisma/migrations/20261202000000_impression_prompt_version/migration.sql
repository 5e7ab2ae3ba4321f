-- AlterTable: every impression records the version of the prompt it was ranked with.
ALTER TABLE "Impression" ADD COLUMN "promptVersion" TEXT NOT NULL DEFAULT '';
