import type { Item, Prisma } from "@prisma/client";
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

/** Many items in one transaction (the Kafka path). */
export async function upsertItems(db: Db, items: ItemEvent[]): Promise<void> {
  if (items.length > 0) await db.$transaction(items.map((i) => db.item.upsert(upsertArgs(i))));
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
