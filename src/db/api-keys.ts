import type { Db } from "./client";

export interface ApiKeyRow {
  id: string;
  name: string;
  role: string;
  memberId: string | null;
  secretHash: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export function insertApiKey(
  db: Db,
  row: Pick<ApiKeyRow, "id" | "name" | "role" | "memberId" | "secretHash" | "expiresAt">,
): Promise<ApiKeyRow> {
  return db.apiKey.create({ data: row });
}

export function findApiKey(db: Db, id: string): Promise<ApiKeyRow | null> {
  return db.apiKey.findUnique({ where: { id } });
}

export function listApiKeys(db: Db): Promise<ApiKeyRow[]> {
  return db.apiKey.findMany({ orderBy: { createdAt: "asc" } });
}

/** Marks a key revoked; false when no such key exists. A key already revoked keeps its first date. */
export async function revokeApiKey(db: Db, id: string, at: Date = new Date()): Promise<boolean> {
  const found = await db.apiKey.findUnique({ where: { id } });
  if (!found) return false;
  if (!found.revokedAt) await db.apiKey.update({ where: { id }, data: { revokedAt: at } });
  return true;
}
