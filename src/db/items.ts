import type { Item, Prisma } from "@prisma/client";
import { DATABASE } from "../config/limits";
import type { ItemEvent } from "../domain/events";
import type { Db } from "./client";

// Fields left out of an event (undefined) are kept as they were; null clears them.
function upsertArgs(i: ItemEvent) {
  const fields = {
    type: i.type,
    title: i.title,
    company: i.company,
    location: i.location,
    country: i.country,
    description: i.description,
  };
  const attributes = (i.attributes === null ? {} : i.attributes) as Prisma.InputJsonValue | undefined;
  // A posting time, when the event has one, is the item's createdAt; else the row's first write is.
  const createdAt = i.postedAt ?? undefined;
  return {
    where: { id: i.id },
    create: { id: i.id, ...fields, attributes: attributes ?? {}, createdAt },
    update: { ...fields, attributes, createdAt },
  };
}

export function upsertItem(db: Db, i: ItemEvent): Promise<Item> {
  return db.item.upsert(upsertArgs(i));
}

/** Many items in one transaction (the Kafka path); `updatedAt` as for members (src/db/members.ts). */
export async function upsertItems(db: Db, items: ItemEvent[]): Promise<void> {
  if (items.length === 0) return;
  if (items.length > DATABASE.upsertChunk) {
    // One transaction per chunk: each upsert is a round trip, and thousands in one transaction
    // outlast its deadline. Upserts are idempotent, so a batch cut short is simply written again.
    for (let from = 0; from < items.length; from += DATABASE.upsertChunk) {
      await upsertItems(db, items.slice(from, from + DATABASE.upsertChunk));
    }
    return;
  }
  if (items.every((i) => !i.updatedAt)) {
    await db.$transaction(items.map((i) => db.item.upsert(upsertArgs(i))));
    return;
  }
  await db.$transaction(
    async (tx) => {
      for (const i of items) {
        const args = upsertArgs(i);
        if (!i.updatedAt) {
          await tx.item.upsert(args);
          continue;
        }
        const version = { sourceUpdatedAt: i.updatedAt };
        const created = await tx.item.createMany({
          data: [{ ...args.create, ...version }],
          skipDuplicates: true,
        });
        if (created.count === 1) continue;
        await tx.item.updateMany({
          where: { id: i.id, OR: [{ sourceUpdatedAt: null }, { sourceUpdatedAt: { lte: i.updatedAt } }] },
          data: { ...args.update, ...version },
        });
      }
    },
    { timeout: DATABASE.versionedBatchTimeoutMs },
  );
}

export function findItem(db: Db, id: string): Promise<Item | null> {
  return db.item.findUnique({ where: { id } });
}

/** Up to `take` items ordered by id, after `afterId` (exclusive), of `type` when given. */
export function listItems(
  db: Db,
  type: string | null | undefined,
  afterId: string | undefined,
  take: number,
): Promise<Item[]> {
  const where = type ? { type } : {};
  return db.item.findMany({
    where: afterId ? { ...where, id: { gt: afterId } } : where,
    orderBy: { id: "asc" },
    take,
  });
}

export function countItems(db: Db, type?: string | null): Promise<number> {
  return db.item.count({ where: type ? { type } : {} });
}
