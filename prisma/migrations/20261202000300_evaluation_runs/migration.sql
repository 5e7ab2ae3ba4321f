-- CreateTable: every offline evaluation run, kept so runs can be compared over time.
CREATE TABLE "EvaluationRun" (
    "id" TEXT NOT NULL,
    "taskName" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "promptVersion" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "dataFrom" TIMESTAMP(3),
    "dataTo" TIMESTAMP(3),
    "impressions" INTEGER NOT NULL,
    "positions" INTEGER NOT NULL,
    "metrics" JSONB NOT NULL,
    "report" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EvaluationRun_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "EvaluationRun_taskName_createdAt_idx" ON "EvaluationRun"("taskName", "createdAt" DESC);
