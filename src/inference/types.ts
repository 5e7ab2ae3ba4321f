/** Native shapes of the sidecar contract (proto/inference.proto), as the gateway uses them. */

export type Normalize = "FULL_VOCAB" | "LABELS_ONLY";

export interface ScoreRequest {
  requestId: string;
  prefixIds: number[];
  candidates: { id: string; ids: number[] }[];
  labels: { name: string; ids: number[] }[];
  normalize?: Normalize;
}

export interface Usage {
  promptTokens: number;
  cachedTokens: number;
  computedTokens: number;
  completionTokens: number;
}

export interface Timings {
  queueMs: number;
  prefillMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface ScoreResponse {
  candidates: { id: string; labelLogprobs: number[] }[];
  usage: Usage;
  timings: Timings;
}

export interface GenerateRequest {
  requestId: string;
  promptIds: number[];
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stopIds?: number[];
}

export type FinishReason = "STOP" | "LENGTH" | "CANCELLED" | "DEADLINE" | "FINISH_REASON_UNSPECIFIED";

export type GenerateEvent =
  | { kind: "token"; id: number; logprob: number }
  | { kind: "done"; finishReason: FinishReason; usage: Usage; timings: Timings };

export interface ModelInfo {
  modelId: string;
  architecture: string;
  vocabSize: number;
  maxContext: number;
  bosTokenId: number;
  eosTokenId: number;
  eosTokenIds: number[];
  dtype: string;
  numParams: string;
  backend: string;
  /** SHA-256 (hex) of the model directory's tokenizer.json; empty when it has none. */
  tokenizerSha256: string;
  /** SHA-256 (hex) over config.json and the safetensors headers (proto/inference.proto). */
  modelSha256: string;
}
