-- CreateTable: dead letters already re-published by `npm run dlq -- replay`, so a second replay
-- skips them (src/ingest/replay.ts).
CREATE TABLE "DeadLetterReplay" (
    "dlqTopic" TEXT NOT NULL,
    "dlqPartition" INTEGER NOT NULL,
    "dlqOffset" TEXT NOT NULL,
    "targetTopic" TEXT NOT NULL,
    "replayedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeadLetterReplay_pkey" PRIMARY KEY ("dlqTopic", "dlqPartition", "dlqOffset")
);
