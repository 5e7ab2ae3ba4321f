import type { Item, Prisma } from "@prisma/client";
import type { Db } from "../db/client";
import type { ItemEvent } from "../ingest/events";

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
  return {
    where: { id: i.id },
    create: { id: i.id, ...fields, attributes: attributes ?? {} },
    update: { ...fields, attributes },
  };
}

export function upsertItem(db: Db, i: ItemEvent): Promise<Item> {
  return db.item.upsert(upsertArgs(i));
}

/** Many items in one transaction (the Kafka path). */
export async function upsertItems(db: Db, items: ItemEvent[]): Promise<void> {
  if (items.length > 0) await db.$transaction(items.map((i) => db.item.upsert(upsertArgs(i))));
}
