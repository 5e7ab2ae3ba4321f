import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { Context } from "@opentelemetry/api";
import { INFERENCE } from "../config/limits";
import { badInput, unavailable } from "../domain/errors";
import { failSpan, injectTraceContext, startClientSpan } from "../observability/tracing";
import { type Endpoint, EndpointPool } from "./endpoints";
import { pickTarget, type RoutingPolicy } from "./routing";
import type { InferenceTls } from "./tls";
import type { GenerateEvent, GenerateRequest, ModelInfo, ScoreRequest, ScoreResponse } from "./types";

export const PROTO_PATH = join(__dirname, "..", "..", "..", "proto", "inference.proto");

export interface InferenceClientOptions {
  /**
   * Sidecar addresses, host:port: an IP literal is one sidecar, a name stands for every address
   * it resolves to (a Kubernetes headless Service: one per ready pod), resolved again every
   * `resolveIntervalMs`.
   */
  addresses: string[];
  /** Deadline of a Score call. @default INFERENCE.scoreTimeoutMs */
  scoreTimeoutMs?: number;
  /** Attempts of one call, first try included: each failed over to the next sidecar. @default INFERENCE.maxAttempts */
  maxAttempts?: number;
  /**
   * Interval of HTTP/2 keepalive pings. Must not be shorter than what the server permits
   * (gRPC C++ default: 5 minutes without data), or the server answers GOAWAY ENHANCE_YOUR_CALM.
   * @default INFERENCE.keepaliveMs
   */
  keepaliveMs?: number;
  /**
   * TLS to sidecars started with --tls-cert, mutual TLS with `tls.client` (readInferenceTls in
   * ./tls.ts reads the files). Unset: plaintext.
   */
  tls?: InferenceTls;
  /** How calls with a route key pick their sidecar (./routing). @default "affinity" */
  routing?: RoutingPolicy;
  /** Affinity's bound: a sidecar takes a call while below this times the average load. @default INFERENCE.routingLoadFactor */
  loadFactor?: number;
  /** How often names in `addresses` are resolved again. @default INFERENCE.resolveIntervalMs */
  resolveIntervalMs?: number;
  onSidecarsChange?(addresses: string[]): void;
  onResolveError?(host: string, err: Error): void;
  /**
   * The gateway's tokenizer: a sidecar whose model directory's tokenizer.json hashes otherwise
   * is never sent a call (token ids would mean other words to it). Unset: not checked.
   */
  tokenizer?: { path: string; sha256: string };
  /** Told once per sidecar whose tokenizer does not match, or cannot be checked (none reported). */
  onTokenizerMismatch?(sidecar: string, message: string): void;
}

export interface CallOptions {
  /** Aborting cancels the RPC; the sidecar frees the request's work. */
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * Calls with the same key go to the same sidecar while it is up and not overloaded (the member
   * id: that sidecar holds the member's prompt prefix in its KV cache). None: round robin.
   */
  routeKey?: string;
}

type Raw = Record<string, unknown>;
type InferenceStub = grpc.Client & {
  Score(
    req: Raw,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r?: Raw) => void,
  ): grpc.ClientUnaryCall;
  Generate(req: Raw, meta: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientReadableStream<Raw>;
  Abort(
    req: Raw,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r?: Raw) => void,
  ): grpc.ClientUnaryCall;
  ModelInfo(
    req: Raw,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r?: Raw) => void,
  ): grpc.ClientUnaryCall;
};

let cachedCtor: grpc.ServiceClientConstructor | undefined;
/** The Inference service of proto/, loaded once: a client constructor; `.service` for servers. */
export function serviceCtor(): grpc.ServiceClientConstructor {
  if (!cachedCtor) {
    const def = protoLoader.loadSync(PROTO_PATH, {
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      brewgate: { inference: { v1: { Inference: grpc.ServiceClientConstructor } } };
    };
    cachedCtor = pkg.brewgate.inference.v1.Inference;
  }
  return cachedCtor;
}

/**
 * The gateway's view of a gRPC failure: UNAVAILABLE while no sidecar answers (the gateway stays up
 * and reconnects), and the sidecar's own words for everything else.
 */
export function toGatewayError(err: grpc.ServiceError): Error {
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return unavailable(`inference sidecar unavailable: ${err.details}`);
    case grpc.status.DEADLINE_EXCEEDED:
      return unavailable("inference sidecar did not answer in time");
    case grpc.status.RESOURCE_EXHAUSTED:
      return unavailable(`inference sidecar is out of capacity: ${err.details}`);
    case grpc.status.INVALID_ARGUMENT:
      return badInput(`the model cannot take this request: ${err.details}`);
    default:
      return new Error(`sidecar call failed (${grpc.status[err.code] ?? err.code}): ${err.details}`);
  }
}

function channelCredentials(tls: InferenceTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.client?.key ?? null, tls.client?.cert ?? null);
}

/**
 * The name checked in the sidecars' certificates (and sent as SNI), in place of the target's host;
 * the authority (HTTP/2 :authority) follows it, as it would had the target been that name.
 */
function serverNameOptions(serverName: string | undefined): grpc.ChannelOptions {
  if (!serverName) return {};
  return { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName };
}

const rpcAttributes = (method: string) => ({
  "rpc.system": "grpc",
  "rpc.service": "brewgate.inference.v1.Inference",
  "rpc.method": method,
});

/** The call's metadata: the W3C trace context of its span, when traced. */
function metadataFor(ctx: Context | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (ctx) injectTraceContext(ctx, (key, value) => metadata.set(key, value));
  return metadata;
}

/** Whether a failed attempt may be sent to another sidecar. */
function failsOver(err: grpc.ServiceError): boolean {
  // UNAVAILABLE: the sidecar is down or unreachable. RESOURCE_EXHAUSTED: it is full right now
  // (KV memory, queue); another one may not be. Score and Generate are pure: nothing is done twice.
  return err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.RESOURCE_EXHAUSTED;
}

/**
 * gRPC client of the inference sidecars: one channel per sidecar, calls routed by key (./routing:
 * a member's calls go to the sidecar that holds their prefix), a sidecar that is down or full
 * skipped and the call sent to the next one, cancellation carried through.
 */
export class InferenceClient {
  private readonly pool: EndpointPool<InferenceStub>;
  private readonly tokenizer: InferenceClientOptions["tokenizer"];
  private readonly onTokenizerMismatch: InferenceClientOptions["onTokenizerMismatch"];
  private readonly scoreTimeoutMs: number;
  private readonly attempts: number;
  private readonly routing: RoutingPolicy;
  private readonly loadFactor: number;
  private turn = 0;
  /** Per sidecar, its tokenizer check: null when it matches (or nothing is checked), else why not. */
  private readonly checks = new Map<string, Promise<string | null>>();

  constructor(opts: InferenceClientOptions) {
    if (opts.addresses.length === 0) throw new Error("InferenceClient needs at least one sidecar address");
    this.scoreTimeoutMs = opts.scoreTimeoutMs ?? INFERENCE.scoreTimeoutMs;
    this.attempts = Math.max(1, opts.maxAttempts ?? INFERENCE.maxAttempts);
    this.routing = opts.routing ?? "affinity";
    this.loadFactor = opts.loadFactor ?? INFERENCE.routingLoadFactor;
    this.tokenizer = opts.tokenizer;
    this.onTokenizerMismatch = opts.onTokenizerMismatch;
    const Ctor = serviceCtor();
    const credentials = channelCredentials(opts.tls);
    this.pool = new EndpointPool<InferenceStub>({
      addresses: opts.addresses,
      resolveIntervalMs: opts.resolveIntervalMs ?? INFERENCE.resolveIntervalMs,
      closeDelayMs: this.scoreTimeoutMs,
      onChange: opts.onSidecarsChange,
      onResolveError: opts.onResolveError,
      connect: (address, hostName) =>
        new Ctor(address, credentials, {
          // A sidecar reached through a name it resolved to is checked against that name.
          ...serverNameOptions(opts.tls ? (opts.tls.serverName ?? hostName) : undefined),
          "grpc.keepalive_time_ms": opts.keepaliveMs ?? INFERENCE.keepaliveMs,
          "grpc.keepalive_timeout_ms": INFERENCE.keepaliveTimeoutMs,
          "grpc.keepalive_permit_without_calls": 0,
          "grpc.initial_reconnect_backoff_ms": INFERENCE.reconnectBackoffMs.initial,
          "grpc.max_reconnect_backoff_ms": INFERENCE.reconnectBackoffMs.max,
          "grpc.max_receive_message_length": INFERENCE.maxReceiveBytes,
        }) as unknown as InferenceStub,
      close: (stub) => stub.close(),
    });
  }

  /** The sidecars calls are spread over now (ip:port). */
  sidecars(): string[] {
    return this.pool.list().map((e) => e.address);
  }

  private deadline(timeoutMs: number): grpc.Deadline {
    return new Date(Date.now() + timeoutMs);
  }

  /** The next sidecar for a call with `key`, not one of `tried`; null when none is left. */
  private pick(key: string | undefined, tried: ReadonlySet<string>): Endpoint<InferenceStub> | null {
    const endpoints = this.pool.list();
    if (endpoints.length === 0) return null;
    let order: string[];
    if (this.routing === "affinity" && key !== undefined) {
      order = this.pool.ring.walk(key);
    } else {
      const start = this.turn++ % endpoints.length;
      order = [...endpoints.slice(start), ...endpoints.slice(0, start)].map((e) => e.address);
    }
    // Round robin ignores load (its point is to be the plain baseline): a factor of infinity.
    const factor =
      this.routing === "affinity" && key !== undefined ? this.loadFactor : Number.POSITIVE_INFINITY;
    return pickTarget(endpoints, order, tried, Date.now(), factor);
  }

  /**
   * Whether `endpoint` serves the gateway's tokenizer: asked once (ModelInfo), again after the
   * sidecar was found down (it may come back with another model). Null: it does, or nothing is
   * checked; else a message naming both hashes.
   */
  private tokenizerCheck(endpoint: Endpoint<InferenceStub>): Promise<string | null> {
    const expected = this.tokenizer;
    if (!expected) return Promise.resolve(null);
    let check = this.checks.get(endpoint.address);
    if (!check) {
      // Raw: a failure keeps its gRPC status, so the caller can fail over as from any call.
      check = this.callOnce(endpoint, "ModelInfo", {}, this.deadline(INFERENCE.modelInfoTimeoutMs))
        .then((r) => r as unknown as ModelInfo)
        .then(
          (info) => {
            if (info.tokenizerSha256 === expected.sha256) return null;
            const message = info.tokenizerSha256
              ? `sidecar ${endpoint.address} serves model '${info.modelId}' whose tokenizer.json has SHA-256 ${info.tokenizerSha256}, but this gateway's tokenizer (${expected.path}) has ${expected.sha256}: token ids would mean other words to it, so it is not used`
              : null;
            this.onTokenizerMismatch?.(
              endpoint.address,
              message ??
                `sidecar ${endpoint.address} reports no tokenizer.json hash; its tokenizer is not checked`,
            );
            return message;
          },
          (err) => {
            this.checks.delete(endpoint.address); // not answered: ask again next time
            throw err;
          },
        );
      this.checks.set(endpoint.address, check);
    }
    return check;
  }

  /**
   * Every sidecar's tokenizer check: the addresses that match and the mismatches, for
   * readiness. A sidecar that does not answer is left out of both.
   */
  async checkSidecars(): Promise<{ matching: string[]; mismatched: string[] }> {
    await this.pool.ready;
    // One list for both: a re-resolution while the checks run must not shift the indices.
    const endpoints = this.pool.list();
    const results = await Promise.allSettled(endpoints.map((e) => this.tokenizerCheck(e)));
    const matching: string[] = [];
    const mismatched: string[] = [];
    results.forEach((r, i) => {
      if (r.status !== "fulfilled") return;
      if (r.value === null) matching.push(endpoints[i].address);
      else mismatched.push(r.value);
    });
    return { matching, mismatched };
  }

  private markDown(endpoint: Endpoint<InferenceStub>): void {
    this.checks.delete(endpoint.address);
    endpoint.failures++;
    const { initialMs, maxMs } = INFERENCE.sidecarDownMs;
    endpoint.downUntil = Date.now() + Math.min(initialMs * 2 ** (endpoint.failures - 1), maxMs);
  }

  private markUp(endpoint: Endpoint<InferenceStub>): void {
    endpoint.failures = 0;
    endpoint.downUntil = 0;
  }

  /**
   * Runs `attempt` on the sidecar routing picks, and on the next one each time an attempt fails
   * over (up to the client's attempts; after every sidecar was tried, they are tried again after
   * a short pause). Stops at once when `signal` aborts.
   */
  private async withFailover<T>(
    key: string | undefined,
    signal: AbortSignal | undefined,
    attempt: (endpoint: Endpoint<InferenceStub>) => Promise<T>,
  ): Promise<T> {
    await this.pool.ready;
    const tried = new Set<string>();
    const mismatched = new Set<string>();
    let last: grpc.ServiceError | null = null;
    let mismatch: string | null = null;
    for (let n = 0; n < this.attempts; n++) {
      if (signal?.aborted) break;
      let endpoint = this.pick(key, tried);
      if (!endpoint && tried.size > mismatched.size) {
        tried.clear();
        for (const address of mismatched) tried.add(address);
        await new Promise((r) => setTimeout(r, INFERENCE.failoverPauseMs * n));
        endpoint = this.pick(key, tried);
      }
      if (!endpoint) break;
      tried.add(endpoint.address);
      try {
        const wrong = await this.tokenizerCheck(endpoint);
        if (wrong !== null) {
          // Not an attempt: this sidecar is never used while it serves another tokenizer.
          mismatched.add(endpoint.address);
          mismatch = wrong;
          n--;
          continue;
        }
      } catch (err) {
        last = this.failedOver(endpoint, err, signal);
        continue;
      }
      endpoint.inFlight++;
      try {
        const result = await attempt(endpoint);
        this.markUp(endpoint);
        return result;
      } catch (err) {
        last = this.failedOver(endpoint, err, signal);
      } finally {
        endpoint.inFlight--;
      }
    }
    if (signal?.aborted)
      throw Object.assign(new Error("cancelled"), { code: grpc.status.CANCELLED, details: "cancelled" });
    if (mismatch !== null) {
      throw unavailable(last ? `${mismatch}; the other sidecars are unavailable: ${last.details}` : mismatch);
    }
    throw (
      last ??
      Object.assign(new Error("no sidecar address"), {
        code: grpc.status.UNAVAILABLE,
        details: `no inference sidecar resolved from ${this.pool.list().length === 0 ? "the configured addresses" : "the pool"}`,
      })
    );
  }

  /**
   * A failed attempt on `endpoint`: rethrown when it may not go to another sidecar, else returned
   * (a sidecar found down is skipped for a while).
   */
  private failedOver(
    endpoint: Endpoint<InferenceStub>,
    err: unknown,
    signal?: AbortSignal,
  ): grpc.ServiceError {
    const e = err as grpc.ServiceError;
    if (typeof e.code !== "number" || !failsOver(e) || signal?.aborted) throw err;
    if (e.code === grpc.status.UNAVAILABLE) this.markDown(endpoint);
    return e;
  }

  /** One unary call on one sidecar; a failure is the raw gRPC error. */
  private callOnce(
    target: Endpoint<InferenceStub>,
    method: "Score" | "Abort" | "ModelInfo",
    req: Raw,
    deadline: grpc.Deadline,
    signal?: AbortSignal,
    traceContext?: Context,
  ): Promise<Raw> {
    return new Promise<Raw>((resolve, reject) => {
      const call = target.stub[method](req, metadataFor(traceContext), { deadline }, (err, res) => {
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(res as Raw);
      });
      const onAbort = () => call.cancel();
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private unary<T>(
    method: "Score" | "Abort" | "ModelInfo",
    req: Raw,
    opts: CallOptions,
    timeoutMs: number,
    map: (r: Raw) => T,
    endpoint?: Endpoint<InferenceStub>,
  ): Promise<T> {
    if (opts.signal?.aborted)
      return Promise.reject(unavailable("request cancelled before it reached the sidecar"));
    // One deadline for the call, however many sidecars it tries.
    const deadline = this.deadline(opts.timeoutMs ?? timeoutMs);
    // Score is traced (a span per call, its context sent to the sidecar); control calls are not.
    const traced = method === "Score" ? startClientSpan("inference.Score", rpcAttributes(method)) : null;
    const once = (target: Endpoint<InferenceStub>) => {
      traced?.span.setAttribute("brewgate.sidecar", target.address);
      return this.callOnce(target, method, req, deadline, opts.signal, traced?.context);
    };
    const sent = endpoint ? once(endpoint) : this.withFailover(opts.routeKey, opts.signal, once);
    return sent.then(
      (res) => {
        traced?.span.end();
        return map(res);
      },
      (err: grpc.ServiceError) => {
        if (traced) {
          failSpan(traced.span, err);
          traced.span.end();
        }
        throw typeof err.code === "number" ? toGatewayError(err) : err;
      },
    );
  }

  score(req: ScoreRequest, opts: CallOptions = {}): Promise<ScoreResponse> {
    return this.unary(
      "Score",
      req as unknown as Raw,
      opts,
      this.scoreTimeoutMs,
      (r) => r as unknown as ScoreResponse,
    );
  }

  modelInfo(opts: CallOptions = {}): Promise<ModelInfo> {
    return this.unary("ModelInfo", {}, opts, INFERENCE.modelInfoTimeoutMs, (r) => r as unknown as ModelInfo);
  }

  /** Asks every sidecar to stop `requestId`; true when one of them had it. */
  async abort(requestId: string): Promise<boolean> {
    await this.pool.ready;
    const answers = await Promise.allSettled(
      this.pool
        .list()
        .map((e) =>
          this.unary("Abort", { requestId }, {}, INFERENCE.controlTimeoutMs, (r) => Boolean(r.found), e),
        ),
    );
    if (answers.every((a) => a.status === "rejected")) throw (answers[0] as PromiseRejectedResult).reason;
    return answers.some((a) => a.status === "fulfilled" && a.value);
  }

  /**
   * Streams generated tokens. Breaking out of the loop, or aborting `signal`, cancels the call,
   * and the sidecar frees the generation's KV memory. A sidecar that fails before the first event
   * is replaced by the next one; after that the failure is the caller's.
   */
  async *generate(
    req: GenerateRequest,
    opts: CallOptions & { timeoutMs?: number } = {},
  ): AsyncGenerator<GenerateEvent> {
    const callOpts: grpc.CallOptions = opts.timeoutMs ? { deadline: this.deadline(opts.timeoutMs) } : {};
    const traced = startClientSpan("inference.Generate", rpcAttributes("Generate"));
    let tokens = 0;
    let call: grpc.ClientReadableStream<Raw> | null = null;
    let endpoint: Endpoint<InferenceStub> | null = null;
    const onAbort = () => call?.cancel();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      // Opened, and its first event read, under failover; the rest streams from that sidecar.
      const first = await this.withFailover(opts.routeKey, opts.signal, async (target) => {
        traced.span.setAttribute("brewgate.sidecar", target.address);
        const opened = target.stub.Generate(req as unknown as Raw, metadataFor(traced.context), callOpts);
        call = opened;
        const it = (opened as AsyncIterable<Raw>)[Symbol.asyncIterator]();
        try {
          const r = await it.next();
          target.inFlight++;
          endpoint = target;
          return { it, r };
        } catch (err) {
          opened.cancel();
          throw err;
        }
      });
      let { r } = first;
      while (!r.done) {
        const ev = r.value as { token?: { id: number; logprob: number }; done?: Raw; event?: string };
        if (ev.token && ev.event !== "done") {
          if (tokens++ === 0) traced.span.addEvent("first token");
          yield { kind: "token", id: ev.token.id, logprob: ev.token.logprob };
        } else if (ev.done) {
          const d = ev.done as unknown as Omit<Extract<GenerateEvent, { kind: "done" }>, "kind">;
          yield { kind: "done", finishReason: d.finishReason, usage: d.usage, timings: d.timings };
        }
        r = await first.it.next();
      }
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.CANCELLED && opts.signal?.aborted) return;
      failSpan(traced.span, err);
      throw typeof e.code === "number" ? toGatewayError(e) : err;
    } finally {
      traced.span.setAttribute("brewgate.generated_tokens", tokens);
      traced.span.end();
      opts.signal?.removeEventListener("abort", onAbort);
      (call as grpc.ClientReadableStream<Raw> | null)?.cancel();
      const held = endpoint as Endpoint<InferenceStub> | null;
      if (held) held.inFlight--;
    }
  }

  /** Resolves once a connection to some sidecar is up (or rejects after `timeoutMs`). */
  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = this.deadline(timeoutMs);
    await this.pool.ready;
    const endpoints = this.pool.list();
    if (endpoints.length === 0) throw new Error("no inference sidecar address resolved");
    await Promise.any(
      endpoints.map(
        (e) =>
          new Promise<void>((resolve, reject) => {
            e.stub.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
          }),
      ),
    ).catch((err: AggregateError) => {
      throw err.errors[0];
    });
  }

  close(): void {
    this.pool.close();
  }
}
