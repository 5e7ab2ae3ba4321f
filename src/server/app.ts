import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { expressMiddleware } from "@as-integrations/express5";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import express from "express";
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  NoSchemaIntrospectionCustomRule,
} from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { REQUEST_LIMITS, WS_DOCUMENT_CACHE_ENTRIES } from "../config/limits";
import { DomainError } from "../domain/errors";
import type { Metrics } from "../observability/metrics";
import { startServerSpan, traceContext } from "../observability/tracing";
import { type GatewayContext, type GatewayServices, requestContext } from "./context";
import { DocumentCache } from "./document-cache";
import { createErrorFormatter } from "./format-error";
import { type IdeOptions, mountIde } from "./ide";
import { rootFieldNames } from "./operation";
import { mountPlayground } from "./playground";
import { mountReports } from "./report";
import { refusalError, type Security } from "./security";
import { closeCode, closeSocket, SocketRegistry, stringParam, type WsExtra } from "./sockets";

export interface GatewayServer {
  /** Listens on host:port (port 0: any free port) and returns the bound URL of /graphql. */
  listen(host: string, port: number): Promise<string>;
  /** Stops accepting, drains HTTP requests and WebSocket subscriptions, then returns. */
  stop(): Promise<void>;
  httpServer: Server;
}

export interface ServerDeps {
  schema: GraphQLSchema;
  services: GatewayServices;
  metrics: Metrics;
  /** Extra readiness checks by name; each throws when not ready. */
  readiness: Record<string, () => Promise<void>>;
  /** Authentication, authorization and limits (src/server/security.ts). */
  security: Security;
  /** Serve the GraphQL IDE at / and the playground at /playground with these examples; unset: neither. */
  ide?: IdeOptions;
}

/** Express + Apollo Server on one HTTP server, graphql-ws subscriptions on the same port. */
export async function createGatewayServer(deps: ServerDeps): Promise<GatewayServer> {
  const { schema, services, metrics } = deps;
  const app = express();
  const httpServer = createServer(app);

  const { security } = deps;
  const formatError = createErrorFormatter(services.logger, { hideSchemaDetails: !security.introspection });
  const wsServer = new WebSocketServer({
    server: httpServer,
    path: "/graphql",
    maxPayload: security.ws.maxMessageBytes,
  });
  const documents = new DocumentCache(WS_DOCUMENT_CACHE_ENTRIES, {
    maxTokens: security.maxTokens,
    rules: security.introspection
      ? security.validationRules
      : [...security.validationRules, NoSchemaIntrospectionCustomRule],
  });
  const sockets = new SocketRegistry(security.ws.maxConnectionsPerPrincipal);
  /** A refusal as the GraphQL error to answer with, counted. */
  const refuse = (err: DomainError, transport: "http" | "ws") => {
    metrics.refusals.inc({ code: err.code, transport });
    return refusalError(err);
  };
  const wsCleanup = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      schema,
      // The token comes in connectionParams: `authorization: "Bearer <token>"` or `apiKey`.
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const socket = ctx.extra.socket;
        try {
          const principal = await security.authenticator.authenticate({
            authorization: stringParam(params.authorization ?? params.Authorization),
            apiKey: stringParam(params.apiKey),
            address: ctx.extra.request.socket.remoteAddress ?? "unknown",
          });
          const opened = sockets.open(ctx, socket, principal);
          if (!opened) metrics.refusals.inc({ code: "RATE_LIMITED", transport: "ws" });
          return opened;
        } catch (err) {
          if (!(err instanceof DomainError)) throw err;
          metrics.refusals.inc({ code: err.code, transport: "ws" });
          closeSocket(socket, closeCode(err), err.message);
          return false;
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        const conn = sockets.get(ctx);
        if (!conn) return [new GraphQLError("the connection is not authenticated")];
        const max = security.ws.maxSubscriptionsPerConnection;
        // The operations graphql-ws holds on this socket besides this one: an id enters when its
        // message arrives and leaves when it ends or the client completes it. (conn.operations
        // is filled after the awaits below, so a burst of messages would all pass, and emptied
        // only once a completed stream has wound down, so a client's next one would be refused.)
        const running = Object.keys(ctx.subscriptions).filter((other) => other !== id).length;
        if (max > 0 && running >= max) {
          return [
            refuse(
              new DomainError(
                "RATE_LIMITED",
                `this connection already runs ${max} operations (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first`,
                { retryAfterSeconds: 1 },
              ),
              "ws",
            ),
          ];
        }
        let document: DocumentNode;
        try {
          document = documents.parse(payload.query);
        } catch (err) {
          if (err instanceof GraphQLError) return [withCode(err, "GRAPHQL_PARSE_FAILED")];
          throw err;
        }
        const invalid = documents.validate(schema, document);
        if (invalid.length > 0) return invalid.map((e) => withCode(e, "GRAPHQL_VALIDATION_FAILED"));
        try {
          await security.gate.check(conn.principal, {
            document,
            operationName: payload.operationName,
            variables: payload.variables,
          });
        } catch (err) {
          if (err instanceof DomainError) return [refuse(err, "ws")];
          throw err;
        }
        // Each operation gets its own signal, aborted when it completes or its socket closes (a
        // subscription's stream is also ended by graphql-ws itself then).
        const controller = new AbortController();
        conn.operations.set(id, controller);
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: requestContext(services, controller.signal, conn.principal),
        };
      },
      onComplete: (ctx, id) => sockets.endOperation(ctx, id),
      onClose: (ctx) => sockets.close(ctx),
      // The same masking as over HTTP, for errors before a subscription starts and within it.
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) }
          : undefined,
    },
    wsServer,
  );
  // graphql-ws prints every socket error with its stack to stderr, bypassing the log: a client
  // sending oversized messages (ws has closed those with 1009 already) could flood it. Its
  // handler is replaced by one that logs a line and closes what ws has not.
  wsServer.on("connection", (socket) => {
    socket.removeAllListeners("error");
    socket.on("error", (err) => {
      services.logger.debug({ err: err.message }, "WebSocket error; the socket is closed");
      if (socket.readyState === socket.OPEN) closeSocket(socket, 1011, "internal error");
    });
  });

  const apollo = new ApolloServer<GatewayContext>({
    schema,
    formatError,
    introspection: security.introspection,
    // Where introspection is off, "Did you mean ...?" would give the schema away field by field.
    hideSchemaDetailsFromClientErrors: !security.introspection,
    validationRules: security.validationRules,
    parseOptions: { maxTokens: security.maxTokens },
    // main.ts owns signal handling; Apollo's own handler would race it for the same stop().
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // No field has a cache hint (rankings are per member and per moment), so the cache-control
      // plugin's per-field hook only ever concluded `no-store`, at a cost on every field; the
      // header is set below instead.
      ApolloServerPluginCacheControlDisabled(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
      {
        async requestDidStart() {
          return {
            // Authorization, model cost and rate limit, before anything runs (src/server/gate.ts).
            async didResolveOperation(rc) {
              const span = trace.getActiveSpan();
              if (span && rc.operation) {
                const type = rc.operation.operation;
                const fields = rootFieldNames(schema, rc.document, rc.operation);
                span.updateName(`${type} ${fields.join(",") || "none"}`);
                span.setAttribute("graphql.operation.type", type);
              }
              try {
                await security.gate.check(rc.contextValue.principal, {
                  document: rc.document,
                  operationName: rc.operationName,
                  variables: rc.request.variables,
                });
              } catch (err) {
                if (err instanceof DomainError) throw refuse(err, "http");
                throw err;
              }
            },
            async willSendResponse(rc) {
              rc.response.http.headers.set("cache-control", "no-store");
              const outcome = rc.errors && rc.errors.length > 0 ? "error" : "ok";
              // Labels from the schema only: the operation's name and aliases are the client's.
              const type = rc.operation?.operation ?? "none";
              const fields =
                rc.operation && rc.document ? rootFieldNames(schema, rc.document, rc.operation) : [];
              for (const field of fields.length > 0 ? fields : ["none"])
                metrics.graphqlRequests.inc({ type, field, outcome });
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  if (deps.ide) {
    mountIde(app, deps.ide);
    mountPlayground(app, deps.ide, services.logger);
  }
  mountReports(app, services.db, services.logger, { playground: deps.ide !== undefined });
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const checks: Record<string, string> = {};
    let ready = true;
    for (const [name, check] of Object.entries(deps.readiness)) {
      try {
        await check();
        checks[name] = "ok";
      } catch (err) {
        ready = false;
        checks[name] = (err as Error).message;
      }
    }
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", checks });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(
    "/graphql",
    // The operation's span (its parent the caller's traceparent, if sent), active for everything
    // the request does; named after the operation once Apollo has resolved it.
    (req, res, next) => {
      const { span, context } = startServerSpan("graphql", req.headers, {
        "http.request.method": req.method,
        "url.path": "/graphql",
      });
      res.once("close", () => {
        span.setAttribute("http.response.status_code", res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      traceContext.with(context, next);
    },
    express.json({ limit: REQUEST_LIMITS.httpBodyBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        try {
          const principal = await security.authenticator.authenticate({
            authorization: req.headers.authorization,
            apiKey: stringParam(req.headers["x-api-key"]),
            address: req.socket.remoteAddress ?? "unknown",
          });
          return requestContext(services, closeSignal(res), principal);
        } catch (err) {
          if (err instanceof DomainError) throw refuse(err, "http");
          throw err;
        }
      },
    }),
  );
  // A request refused before Apollo (a body that is not JSON, or over REQUEST_LIMITS.httpBodyBytes)
  // answered as a GraphQL error: Express's own handler would show the parser's stack wherever the
  // process's NODE_ENV is not "production", whatever the gateway's configuration says.
  app.use(
    "/graphql",
    (err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
      if (res.headersSent) return next(err);
      const e = err as { status?: unknown; expose?: unknown; message?: unknown };
      const status = typeof e.status === "number" && e.status >= 400 && e.status < 600 ? e.status : 500;
      const client = status < 500 && e.expose === true && typeof e.message === "string";
      if (!client) services.logger.error({ err }, "unexpected error in an HTTP request");
      res.status(status).json({
        errors: [
          client
            ? { message: e.message, extensions: { code: "BAD_REQUEST" } }
            : { message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } },
        ],
      });
    },
  );

  return {
    httpServer,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => {
          const addr = httpServer.address() as AddressInfo;
          resolve(`http://${host.includes(":") ? `[${host}]` : host}:${addr.port}/graphql`);
        });
      });
    },
    async stop() {
      await apollo.stop();
    },
  };
}

/**
 * A syntax or validation error with the code Apollo gives it over HTTP: without one the error
 * formatter takes it for an unexpected error and masks it ("Internal server error").
 */
function withCode(err: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    originalError: err.originalError,
    extensions: { ...err.extensions, code },
  });
}

/**
 * Aborted when the client goes away before its answer was sent: the response closes unfinished
 * (the socket was closed or reset). A request's own 'close' would not do: it fires once the body
 * has been read.
 */
function closeSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
