/** Socket errors of a server that cannot be reached or went away. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/** Prisma's: can't reach the server, timed out, server closed the connection, pool timeout. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1017", "P2024"]);

/** SQLSTATEs of a server that is shutting down, starting, or out of connections. */
const SERVER_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** node-postgres's own words when a connection ends or a pool wait runs out. */
const POOL_MESSAGES = /Connection terminated|timeout exceeded when trying to connect/;

/**
 * Whether `err` (or an error it wraps) says the database could not be reached or dropped the
 * connection, as opposed to a statement that failed: the client can retry those later.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (NETWORK_CODES.has(code) || PRISMA_CODES.has(code) || SERVER_STATES.has(code)) return true;
      // Class 08: connection exception.
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    if (POOL_MESSAGES.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}
