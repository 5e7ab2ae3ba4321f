import { unwrapResolverError } from "@apollo/server/errors";
import type { GraphQLFormattedError } from "graphql";
import { GraphQLError } from "graphql";
import { isDatabaseUnavailable } from "../db/errors";
import type { Logger } from "../observability/logger";

// Codes whose messages were written for the client (by us or by GraphQL/Apollo itself).
const CLIENT_CODES = new Set([
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "UNAVAILABLE",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "OPERATION_RESOLUTION_FAILURE",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
]);

/**
 * The one place unexpected errors are masked: the client gets a generic message and a code, the
 * log gets the real error with its stack. A database that cannot be reached is UNAVAILABLE, as
 * an unreachable sidecar is.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    const original = unwrapResolverError(error);
    const isGraphQLError = original instanceof GraphQLError || !(original instanceof Error);
    if (typeof code === "string" && CLIENT_CODES.has(code) && isGraphQLError) {
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    // In both cases the client gets the location and a message of ours; the log gets the error.
    const masked = (message: string, code: string) => ({
      message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code },
    });
    if (isDatabaseUnavailable(original)) {
      // Not a bug of this request: the database is down or unreachable, and the client may retry.
      logger.warn({ err: original, path: formatted.path }, "database unavailable");
      return masked("the database is unavailable; try again later", "UNAVAILABLE");
    }
    logger.error({ err: original, path: formatted.path }, "unexpected error in GraphQL operation");
    return masked("Internal server error", "INTERNAL_SERVER_ERROR");
  };
}
