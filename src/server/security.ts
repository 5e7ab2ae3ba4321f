import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import {
  GraphQLError,
  type GraphQLSchema,
  NoSchemaIntrospectionCustomRule,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type Redis from "ioredis";
import { Authenticator } from "../auth/authenticate";
import { RateLimits } from "../auth/rate-limit";
import type { Config } from "../config";
import type { Db } from "../db/client";
import { DomainError } from "../domain/errors";
import { OperationGate } from "./gate";

/** Everything the server needs to keep callers within their rights and limits. */
export interface Security {
  authenticator: Authenticator;
  gate: OperationGate;
  /** graphql-armor's limits (and no introspection where it is off), added to GraphQL's own rules. */
  validationRules: ValidationRule[];
  /** Lexical tokens of one operation's text (graphql-js's parser stops past it); undefined: no limit. */
  maxTokens: number | undefined;
  introspection: boolean;
  ws: { maxMessageBytes: number; maxConnectionsPerPrincipal: number; maxSubscriptionsPerConnection: number };
}

export function createSecurity(config: Config, db: Db, schema: GraphQLSchema, redis: Redis | null): Security {
  const rules: ValidationRule[] = [];
  const on = (n: number) => n > 0;
  // Each limit names itself and its number in its error (exposeLimits): a client over one can tell which.
  // graphql-armor throws its error out of `validate` by default (propagateOnRejection), which Apollo
  // answers with 500 INTERNAL_SERVER_ERROR and graphql-ws by closing the socket (4500): it is
  // reported as a validation error instead (400 GRAPHQL_VALIDATION_FAILED; an `error` message on
  // the socket).
  const report = {
    propagateOnRejection: false,
    onReject: [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(err)],
  };
  if (on(config.GRAPHQL_MAX_DEPTH)) rules.push(maxDepthRule({ n: config.GRAPHQL_MAX_DEPTH, ...report }));
  if (on(config.GRAPHQL_MAX_ALIASES))
    rules.push(maxAliasesRule({ n: config.GRAPHQL_MAX_ALIASES, ...report }));
  if (on(config.GRAPHQL_MAX_DIRECTIVES))
    rules.push(maxDirectivesRule({ n: config.GRAPHQL_MAX_DIRECTIVES, ...report }));
  if (on(config.GRAPHQL_MAX_COST)) rules.push(costLimitRule({ maxCost: config.GRAPHQL_MAX_COST, ...report }));
  if (!config.INTROSPECTION_ENABLED) rules.push(NoSchemaIntrospectionCustomRule);
  return {
    authenticator: new Authenticator(config, db),
    gate: new OperationGate({
      schema,
      maxModelCost: config.GRAPHQL_MAX_MODEL_COST,
      costDefaults: {
        retrievalLimit: config.RETRIEVAL_LIMIT,
        explanationTokens: config.EXPLANATION_MAX_TOKENS,
      },
      limits: new RateLimits({
        windowSeconds: config.RATE_LIMIT_WINDOW_S,
        memberPoints: config.RATE_LIMIT_MEMBER_POINTS,
        servicePoints: config.RATE_LIMIT_SERVICE_POINTS,
        redis,
      }),
    }),
    validationRules: rules,
    maxTokens: on(config.GRAPHQL_MAX_TOKENS) ? config.GRAPHQL_MAX_TOKENS : undefined,
    introspection: config.INTROSPECTION_ENABLED,
    ws: {
      maxMessageBytes: config.WS_MAX_MESSAGE_BYTES,
      maxConnectionsPerPrincipal: config.WS_MAX_CONNECTIONS_PER_PRINCIPAL,
      maxSubscriptionsPerConnection: config.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    },
  };
}

const HTTP_STATUS: Partial<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  BAD_USER_INPUT: 400,
  UNAVAILABLE: 503,
};

/**
 * A refusal before execution as a GraphQL error, with the HTTP status and headers Apollo answers
 * with: 401 with `WWW-Authenticate`, 403, 429 with `Retry-After`, 400.
 */
export function refusalError(err: DomainError): GraphQLError {
  const headers = new Map<string, string>();
  if (err.code === "UNAUTHENTICATED") headers.set("www-authenticate", 'Bearer realm="brewgate"');
  const retry = err.details.retryAfterSeconds;
  if (err.code === "RATE_LIMITED" && typeof retry === "number") headers.set("retry-after", String(retry));
  return new GraphQLError(err.message, {
    originalError: err,
    extensions: { ...err.details, code: err.code, http: { status: HTTP_STATUS[err.code] ?? 400, headers } },
  });
}

/** WebSocket close codes (graphql-ws uses 4401 and 4403 for the same meanings). */
export const WS_CLOSE = {
  unauthenticated: 4401,
  forbidden: 4403,
  tooManyConnections: 4429,
} as const;
