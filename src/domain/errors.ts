/**
 * Errors whose message is written for the caller, with a code a client can switch on. They are
 * plain errors: the GraphQL edge (src/server/format-error.ts) turns them into GraphQL errors with
 * `extensions.code`, the Kafka path into dead-letter reasons, the CLI into messages.
 */
export type ErrorCode = "BAD_USER_INPUT" | "NOT_FOUND" | "UNAVAILABLE";

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
