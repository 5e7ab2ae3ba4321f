/**
 * Errors whose message is written for the caller, with a code a client can switch on. They are
 * plain errors: the GraphQL edge (src/server/format-error.ts) turns them into GraphQL errors with
 * `extensions.code`, the Kafka path into dead-letter reasons, the CLI into messages.
 */
export type ErrorCode =
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "UNAVAILABLE"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "RATE_LIMITED";

export class DomainError extends Error {
  override readonly name = "DomainError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields for the client (`argument`, the ids at fault). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) =>
  new DomainError("BAD_USER_INPUT", message, details);

export const notFound = (what: string, id: string) =>
  new DomainError("NOT_FOUND", `${what} '${id}' does not exist`, { [`${what.toLowerCase()}Id`]: id });

export const unavailable = (message: string) => new DomainError("UNAVAILABLE", message);

/** No credentials where they are required, or credentials that do not hold (expired, bad signature, unknown key). */
export const unauthenticated = (message: string) => new DomainError("UNAUTHENTICATED", message);

/** Valid credentials that do not allow this operation. The message names no data of anyone else. */
export const forbidden = (message: string) => new DomainError("FORBIDDEN", message);

/** Over a limit for now; `retryAfterSeconds` says when the caller may try again. */
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new DomainError("RATE_LIMITED", message, { retryAfterSeconds });
