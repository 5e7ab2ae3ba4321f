import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Config } from "../config";

/**
 * OpenTelemetry traces of the gateway: a span per GraphQL operation (its parent the caller's W3C
 * `traceparent`, when sent), and inside it the database reads, the prompt build and the sidecar
 * calls, whose trace context travels to the sidecar in the gRPC metadata. Off by default: spans
 * are then the API's no-op ones, which cost next to nothing. `OTEL_TRACES_EXPORTER=otlp` sends
 * them to an OTLP/HTTP collector.
 */

const TRACER = "brewgate-gateway";

export interface Tracing {
  /** Flushes what is buffered and unregisters the provider (a later start may register again). */
  shutdown(): Promise<void>;
}

type TracingConfig = Pick<
  Config,
  "OTEL_TRACES_EXPORTER" | "OTEL_EXPORTER_OTLP_ENDPOINT" | "OTEL_SERVICE_NAME"
>;

/**
 * Registers the process's tracer provider when traces are exported (`OTEL_TRACES_EXPORTER=otlp`,
 * or `exporter` given: tests pass an in-memory one, exported span by span). One gateway per
 * process traces at a time.
 */
export function startTracing(config: TracingConfig, exporter?: SpanExporter): Tracing {
  const processors: SpanProcessor[] = [];
  if (exporter) processors.push(new SimpleSpanProcessor(exporter));
  if (config.OTEL_TRACES_EXPORTER === "otlp") {
    const base = config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "");
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })));
  }
  if (processors.length === 0) return { shutdown: async () => {} };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME }),
    spanProcessors: processors,
  });
  // The global provider, AsyncLocalStorage context manager and W3C propagator: spans started in
  // an awaited call find their parent without it being passed down.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const tracer = () => trace.getTracer(TRACER);

/**
 * Runs `fn` in a new span, a child of the active one; the span ends when `fn` settles, marked as
 * an error (with the exception) if it throws.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes, kind }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export function failSpan(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** A span for a client call (gRPC) whose context the callee receives through `carrier`. */
export function startClientSpan(name: string, attributes: Attributes): { span: Span; context: Context } {
  const span = tracer().startSpan(name, { attributes, kind: SpanKind.CLIENT });
  return { span, context: trace.setSpan(context.active(), span) };
}

/** Writes the W3C trace context of `ctx` (traceparent, tracestate) with `set`. */
export function injectTraceContext(ctx: Context, set: (key: string, value: string) => void): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/**
 * The span of one incoming request: its parent is the caller's `traceparent` header if it sent a
 * valid one, else it starts a trace. Returns the context to run the request in.
 */
export function startServerSpan(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
): { span: Span; context: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers, {
    keys: (h) => Object.keys(h),
    get: (h, key) => h[key],
  });
  const span = tracer().startSpan(name, { attributes, kind: SpanKind.SERVER }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

export { context as traceContext };
