-- CreateTable: interactions from Kafka whose member or item was not stored yet (Kafka gives no
-- order across topics). Each waits here, with its original message, until both exist, or is
-- dead-lettered after INGEST_PARK_MAX_MS (src/ingest/parking.ts).
CREATE TABLE "ParkedInteraction" (
    "eventId" TEXT NOT NULL,
    "memberId" TEXT NOT NULL,
    "itemId" TEXT NOT NULL,
    "event" JSONB NOT NULL,
    "reason" TEXT NOT NULL,
    "sourceTopic" TEXT NOT NULL,
    "sourcePartition" INTEGER NOT NULL,
    "sourceOffset" TEXT NOT NULL,
    "messageKey" BYTEA,
    "messageValue" BYTEA,
    "messageTimestamp" TEXT NOT NULL,
    "messageHeaders" JSONB NOT NULL,
    "parkedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ParkedInteraction_pkey" PRIMARY KEY ("eventId")
);

-- CreateIndex
CREATE INDEX "ParkedInteraction_parkedAt_idx" ON "ParkedInteraction"("parkedAt");
