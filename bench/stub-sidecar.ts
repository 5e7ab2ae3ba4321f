import * as grpc from "@grpc/grpc-js";
import { serviceCtor } from "../src/inference/client";

type Raw = Record<string, unknown>;

export interface StubSidecar {
  address: string;
  stop(): Promise<void>;
}

/**
 * A sidecar that does no inference: Score answers at once with made-up log-probabilities (the
 * same for the same request), ModelInfo with a model of `maxContext` tokens. For measuring the
 * gateway's own cost per ranking without a model's steps around it; never for ranking quality.
 */
export async function startStubSidecar(maxContext: number): Promise<StubSidecar> {
  const server = new grpc.Server();
  server.addService(serviceCtor().service, {
    Score(call: grpc.ServerUnaryCall<Raw, Raw>, done: grpc.sendUnaryData<Raw>) {
      const req = call.request as { candidates: { id: string; ids: number[] }[]; labels: unknown[] };
      done(null, {
        candidates: req.candidates.map((c, i) => ({
          id: c.id,
          labelLogprobs: req.labels.map((_, j) => -1 - ((i * 7 + j * 3 + c.ids.length) % 11) / 4),
        })),
        usage: { promptTokens: 0, cachedTokens: 0, computedTokens: 0, completionTokens: 0 },
        timings: { queueMs: 0, prefillMs: 0, decodeMs: 0, totalMs: 0 },
      });
    },
    ModelInfo(_call: grpc.ServerUnaryCall<Raw, Raw>, done: grpc.sendUnaryData<Raw>) {
      done(null, {
        modelId: "stub",
        architecture: "LlamaForCausalLM",
        vocabSize: 4096,
        maxContext,
        bosTokenId: 1,
        eosTokenId: 2,
        eosTokenIds: [2],
        dtype: "float32",
        numParams: "0",
        backend: "stub",
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
