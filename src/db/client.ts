import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "@prisma/client";
import { Pool, type QueryResultRow } from "pg";
import { DATABASE } from "../config/limits";

export type Db = PrismaClient;

/** The node-postgres pool under each client made by createDb. */
const pools = new WeakMap<Db, Pool>();

export interface PoolOptions {
  /** Most connections, shared by Prisma and `sql`. @default DATABASE.poolMax */
  max?: number;
  /** An idle connection is closed after this long (0: kept). @default DATABASE.idleTimeoutMs */
  idleTimeoutMs?: number;
  /**
   * A statement waiting for a connection (a new one, or a free one of a full pool) fails after
   * this long instead of waiting forever on an unreachable server. @default DATABASE.connectTimeoutMs
   */
  connectTimeoutMs?: number;
  /** Hears of idle connections the server dropped (a restart, a failover). */
  onIdleError?: (err: Error) => void;
}

/**
 * Prisma Client over node-postgres (the Rust-free engine). The pool is shared with `sql` below,
 * so both count against the same `max` connections, and `$disconnect()` ends it.
 */
export function createDb(databaseUrl: string, opts: PoolOptions = {}): Db {
  const pool = new Pool({
    connectionString: databaseUrl,
    max: opts.max ?? DATABASE.poolMax,
    idleTimeoutMillis: opts.idleTimeoutMs ?? DATABASE.idleTimeoutMs,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DATABASE.connectTimeoutMs,
  });
  // An idle connection the server closed: the pool drops it and the next query opens a new one.
  // Without a listener the pool's 'error' event would end the process.
  pool.on("error", opts.onIdleError ?? (() => {}));
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * Runs one parameterised statement straight on the client's pool, for the statements on every
 * ranking's path: Prisma's query compiler and result mapping add CPU to each (README, Database).
 * Values come back as node-postgres parses them (json as objects, timestamps without zone as
 * local-time Dates): select what the caller converts.
 */
export async function sql<R extends QueryResultRow>(db: Db, text: string, values: unknown[]): Promise<R[]> {
  const pool = pools.get(db);
  if (!pool) throw new Error("sql() needs a client made by createDb (it owns the connection pool)");
  return (await pool.query<R>(text, values)).rows;
}

/** Readiness: resolves when the database answers a trivial query. */
export async function pingDb(db: Db): Promise<void> {
  await sql(db, "SELECT 1", []);
}
