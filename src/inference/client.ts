import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { INFERENCE } from "../config/limits";
import { badInput, unavailable } from "../domain/errors";
import type { InferenceTls } from "./tls";
import type { GenerateEvent, GenerateRequest, ModelInfo, ScoreRequest, ScoreResponse } from "./types";

export const PROTO_PATH = join(__dirname, "..", "..", "..", "proto", "inference.proto");

export interface InferenceClientOptions {
  /**
   * Sidecar addresses: one host:port (resolved by DNS, every address it resolves to is used) or
   * several ip:port; calls are spread round robin over the ones that answer.
   */
  addresses: string[];
  /** Deadline of a Score call. @default INFERENCE.scoreTimeoutMs */
  scoreTimeoutMs?: number;
  /** Attempts of one call on UNAVAILABLE (first try included), with exponential backoff. @default INFERENCE.maxAttempts */
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
}

export interface CallOptions {
  /** Aborting cancels the RPC; the sidecar frees the request's work. */
  signal?: AbortSignal;
  timeoutMs?: number;
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

/** gRPC client of the inference sidecars (round robin, retries on UNAVAILABLE, cancellation). */
export class InferenceClient {
  private readonly stub: InferenceStub;
  private readonly scoreTimeoutMs: number;

  constructor(opts: InferenceClientOptions) {
    if (opts.addresses.length === 0) throw new Error("InferenceClient needs at least one sidecar address");
    this.scoreTimeoutMs = opts.scoreTimeoutMs ?? INFERENCE.scoreTimeoutMs;
    const attempts = Math.max(1, Math.min(opts.maxAttempts ?? INFERENCE.maxAttempts, 5));
    const serviceConfig = {
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: [
        {
          name: [{ service: "brewgate.inference.v1.Inference" }],
          // Generate too: a stream is only retried before its first event arrived.
          retryPolicy:
            attempts > 1
              ? {
                  maxAttempts: attempts,
                  initialBackoff: "0.1s",
                  maxBackoff: "1s",
                  backoffMultiplier: 2,
                  retryableStatusCodes: ["UNAVAILABLE"],
                }
              : undefined,
        },
      ],
    };
    // One address goes through DNS (a Kubernetes headless service resolves to every pod);
    // several are IP literals for the ipv4 scheme's comma-separated list. round_robin spreads
    // calls over every resolved address that is connected.
    const target = opts.addresses.length === 1 ? opts.addresses[0] : `ipv4:${opts.addresses.join(",")}`;
    const Ctor = serviceCtor();
    this.stub = new Ctor(target, channelCredentials(opts.tls), {
      ...serverNameOptions(opts.tls?.serverName),
      "grpc.service_config": JSON.stringify(serviceConfig),
      "grpc.keepalive_time_ms": opts.keepaliveMs ?? INFERENCE.keepaliveMs,
      "grpc.keepalive_timeout_ms": INFERENCE.keepaliveTimeoutMs,
      "grpc.keepalive_permit_without_calls": 0,
      "grpc.initial_reconnect_backoff_ms": INFERENCE.reconnectBackoffMs.initial,
      "grpc.max_reconnect_backoff_ms": INFERENCE.reconnectBackoffMs.max,
      "grpc.max_receive_message_length": INFERENCE.maxReceiveBytes,
    }) as unknown as InferenceStub;
  }

  private deadline(timeoutMs: number): grpc.Deadline {
    return new Date(Date.now() + timeoutMs);
  }

  private unary<T>(
    method: "Score" | "Abort" | "ModelInfo",
    req: Raw,
    opts: CallOptions,
    timeoutMs: number,
    map: (r: Raw) => T,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(unavailable("request cancelled before it reached the sidecar"));
        return;
      }
      const call = this.stub[method](
        req,
        new grpc.Metadata(),
        { deadline: this.deadline(opts.timeoutMs ?? timeoutMs) },
        (err, res) => {
          opts.signal?.removeEventListener("abort", onAbort);
          if (err) reject(toGatewayError(err));
          else resolve(map(res as Raw));
        },
      );
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
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

  abort(requestId: string): Promise<boolean> {
    return this.unary("Abort", { requestId }, {}, INFERENCE.controlTimeoutMs, (r) => Boolean(r.found));
  }

  /**
   * Streams generated tokens. Breaking out of the loop, or aborting `signal`, cancels the call,
   * and the sidecar frees the generation's KV memory.
   */
  async *generate(
    req: GenerateRequest,
    opts: CallOptions & { timeoutMs?: number } = {},
  ): AsyncGenerator<GenerateEvent> {
    const callOpts: grpc.CallOptions = opts.timeoutMs ? { deadline: this.deadline(opts.timeoutMs) } : {};
    const call = this.stub.Generate(req as unknown as Raw, new grpc.Metadata(), callOpts);
    const onAbort = () => call.cancel();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const raw of call as AsyncIterable<Raw>) {
        const ev = raw as { token?: { id: number; logprob: number }; done?: Raw; event?: string };
        if (ev.token && ev.event !== "done") {
          yield { kind: "token", id: ev.token.id, logprob: ev.token.logprob };
        } else if (ev.done) {
          const d = ev.done as unknown as Omit<Extract<GenerateEvent, { kind: "done" }>, "kind">;
          yield { kind: "done", finishReason: d.finishReason, usage: d.usage, timings: d.timings };
        }
      }
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.CANCELLED && opts.signal?.aborted) return;
      throw typeof e.code === "number" ? toGatewayError(e) : err;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  /** Resolves once a connection to some sidecar is up (or rejects after `timeoutMs`). */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(this.deadline(timeoutMs), (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.stub.close();
  }
}
