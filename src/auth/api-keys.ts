import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type ApiKeyRow, findApiKey, insertApiKey } from "../db/api-keys";
import type { Db } from "../db/client";
import { badInput, unauthenticated } from "../domain/errors";
import { isRole, type Principal, type Role } from "./principal";

/**
 * API keys for service callers: `bgk_<id>_<secret>`. The id (16 hex digits) finds the row; the
 * secret (32 random bytes, base64url) is checked against its SHA-256, the only form stored. A
 * key is shown once, when created (`npm run apikey -- create`), and cannot be recovered: a lost
 * key is revoked and replaced. The secret is random, not a password, so one unsalted hash is
 * enough: nothing could be guessed from it faster than by trying keys against the server.
 */
export const API_KEY_PREFIX = "bgk_";

const hash = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

export function isApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** The id and secret of a key; null when it is not shaped like one. */
export function parseApiKey(key: string): { id: string; secret: string } | null {
  const m = /^bgk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
  return m ? { id: m[1], secret: m[2] } : null;
}

export interface NewApiKey {
  name: string;
  role: Role;
  /** Required for a member key, refused for the others. */
  memberId?: string | null;
  expiresAt?: Date | null;
}

/** Creates a key and returns it whole: the only time its secret is seen. */
export async function createApiKey(db: Db, input: NewApiKey): Promise<{ key: string; row: ApiKeyRow }> {
  if (!input.name.trim()) throw badInput("an API key needs a name");
  if (input.role === "member" && !input.memberId) throw badInput("a member key needs the member's id");
  if (input.role !== "member" && input.memberId) throw badInput(`a ${input.role} key acts for no one member`);
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const row = await insertApiKey(db, {
    id,
    name: input.name.trim(),
    role: input.role,
    memberId: input.memberId ?? null,
    secretHash: hash(secret),
    expiresAt: input.expiresAt ?? null,
  });
  return { key: `${API_KEY_PREFIX}${id}_${secret}`, row };
}

const REFUSED = "the API key is not valid (unknown, revoked or expired)";

/**
 * Checks keys against the database, keeping each row read for `ttlMs` so a busy caller costs one
 * read per TTL, not per request; a revoked key therefore stops working within the TTL.
 */
export class ApiKeyVerifier {
  private readonly rows = new Map<string, { row: ApiKeyRow | null; readAt: number }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async verify(key: string, now = Date.now()): Promise<Principal> {
    const parsed = parseApiKey(key);
    if (!parsed) throw unauthenticated("the API key is malformed (expected bgk_<id>_<secret>)");
    const row = await this.row(parsed.id, now);
    const expected = Buffer.from(row?.secretHash ?? "", "hex");
    const given = Buffer.from(hash(parsed.secret), "hex");
    if (!row || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw unauthenticated(REFUSED);
    }
    if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now) || !isRole(row.role)) {
      throw unauthenticated(REFUSED);
    }
    return {
      role: row.role,
      memberId: row.role === "member" ? row.memberId : null,
      key: `key:${row.id}`,
      expiresAt: row.expiresAt?.getTime() ?? null,
      via: "api-key",
    };
  }

  private async row(id: string, now: number): Promise<ApiKeyRow | null> {
    const hit = this.rows.get(id);
    if (hit && now - hit.readAt < this.ttlMs) return hit.row;
    const row = await findApiKey(this.db, id);
    if (this.rows.size >= this.maxEntries) this.rows.clear();
    this.rows.set(id, { row, readAt: now });
    return row;
  }
}
