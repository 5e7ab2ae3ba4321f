import { GraphQLError } from "graphql";

/** Error codes clients can switch on (`extensions.code`). */
export type ErrorCode = "BAD_USER_INPUT" | "NOT_FOUND" | "UNAVAILABLE" | "INTERNAL_SERVER_ERROR";

/** An error whose message is safe to show to the client. */
export class UserFacingError extends GraphQLError {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message, { extensions: { code, ...details } });
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) =>
  new UserFacingError("BAD_USER_INPUT", message, details);

export const notFound = (what: string, id: string) =>
  new UserFacingError("NOT_FOUND", `${what} '${id}' does not exist`, { [`${what.toLowerCase()}Id`]: id });
