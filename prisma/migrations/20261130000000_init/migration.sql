-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Member" (
    "id" TEXT NOT NULL,
    "currentPosition" TEXT,
    "currentCompany" TEXT,
    "location" TEXT,
    "skills" TEXT[],
    "yearsOfExperience" INTEGER,
    "summary" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Member_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Item" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "company" TEXT,
    "location" TEXT,
    "country" TEXT,
    "description" TEXT,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Item_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Interaction" (
    "id" BIGSERIAL NOT NULL,
    "eventId" TEXT NOT NULL,
    "memberId" TEXT NOT NULL,
    "itemId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "surface" TEXT,
    "occurredAt" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Interaction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Task" (
    "name" TEXT NOT NULL,
    "instruction" TEXT NOT NULL,
    "note" TEXT,
    "itemType" TEXT NOT NULL,
    "itemNoun" TEXT NOT NULL,
    "itemNounPlural" TEXT NOT NULL,
    "questionVerb" TEXT NOT NULL,
    "actions" JSONB NOT NULL,
    "historyPolicy" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Task_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "Impression" (
    "id" TEXT NOT NULL,
    "requestId" TEXT NOT NULL,
    "memberId" TEXT NOT NULL,
    "taskName" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "candidates" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Impression_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Item_type_createdAt_idx" ON "Item"("type", "createdAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "Interaction_eventId_key" ON "Interaction"("eventId");

-- CreateIndex
CREATE INDEX "Interaction_memberId_occurredAt_idx" ON "Interaction"("memberId", "occurredAt" DESC);

-- CreateIndex
CREATE INDEX "Interaction_itemId_idx" ON "Interaction"("itemId");

-- CreateIndex
CREATE INDEX "Impression_memberId_createdAt_idx" ON "Impression"("memberId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Impression_requestId_idx" ON "Impression"("requestId");

-- AddForeignKey
ALTER TABLE "Interaction" ADD CONSTRAINT "Interaction_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Interaction" ADD CONSTRAINT "Interaction_itemId_fkey" FOREIGN KEY ("itemId") REFERENCES "Item"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Impression" ADD CONSTRAINT "Impression_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Impression" ADD CONSTRAINT "Impression_taskName_fkey" FOREIGN KEY ("taskName") REFERENCES "Task"("name") ON DELETE CASCADE ON UPDATE CASCADE;

