import type { Interaction, Item } from "@prisma/client";
import type { Db } from "./client";

/** A stored interaction with the item it was on. */
export type InteractionWithItem = Interaction & { item: Item };

/**
 * The member's latest `take` interactions, newest first (by when they happened, then by arrival),
 * each with its item: one query on the (memberId, occurredAt) index.
 */
export function latestInteractions(db: Db, memberId: string, take: number): Promise<InteractionWithItem[]> {
  return db.interaction.findMany({
    where: { memberId },
    orderBy: [{ occurredAt: "desc" }, { id: "desc" }],
    take,
    include: { item: true },
  });
}
