import { unwrapResolverError } from "@apollo/server/errors";
import type { GraphQLFormattedError } from "graphql";
import { GraphQLError } from "graphql";
import { isDatabaseUnavailable } from "../db/errors";
import { DomainError } from "../domain/errors";
import type { Logger } from "../observability/logger";

// Codes whose messages GraphQL and Apollo themselves wrote for the client.
const GRAPHQL_CODES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "OPERATION_RESOLUTION_FAILURE",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
]);

/**
 * The one boundary where errors become GraphQL errors. A `DomainError` (written for the client:
 * BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE) keeps its message, code and details; GraphQL's and
 * Apollo's own client errors (a syntax error, an unknown field, a bad variable) pass as they are;
 * anything else is masked: the client gets a generic message and a code, the log gets the real
 * error with its stack. A database that cannot be reached is UNAVAILABLE, as an unreachable
 * sidecar is.
 */
export function createErrorFormatter(logger: Logger, o: { hideSchemaDetails?: boolean } = {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const unwrapped = unwrapResolverError(error);
    // A refusal before execution (src/server/security.ts) is a GraphQLError around a DomainError.
    const original =
      unwrapped instanceof GraphQLError && unwrapped.originalError instanceof DomainError
        ? unwrapped.originalError
        : unwrapped;
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
    if (original instanceof DomainError) {
      return { ...base, message: original.message, extensions: { ...original.details, code: original.code } };
    }
    const code = formatted.extensions?.code;
    const isGraphQLError = original instanceof GraphQLError || !(original instanceof Error);
    if (typeof code === "string" && GRAPHQL_CODES.has(code) && isGraphQLError) {
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      // Where introspection is off, suggestions would give the schema away field by field.
      const message = o.hideSchemaDetails
        ? formatted.message.replace(/ ?Did you mean .*\?$/, "")
        : formatted.message;
      return { ...formatted, message, extensions };
    }
    const masked = (message: string, code: string) => ({ ...base, message, extensions: { code } });
    if (isDatabaseUnavailable(original)) {
      // Not a bug of this request: the database is down or unreachable, and the client may retry.
      logger.warn({ err: original, path: formatted.path }, "database unavailable");
      return masked("the database is unavailable; try again later", "UNAVAILABLE");
    }
    logger.error({ err: original, path: formatted.path }, "unexpected error in GraphQL operation");
    return masked("Internal server error", "INTERNAL_SERVER_ERROR");
  };
}
