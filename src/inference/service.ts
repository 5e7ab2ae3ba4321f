import { unavailable } from "../domain/errors";
import type { InferenceClient } from "./client";
import type { ModelInfo } from "./types";

/** The sidecar client plus what the gateway caches about the served model. */
export class InferenceService {
  private info: Promise<ModelInfo> | undefined;
  /** The answer once it arrived: every ranking asks, so it is returned without a wait. */
  private known: ModelInfo | undefined;

  constructor(readonly client: InferenceClient) {}

  /**
   * ModelInfo, asked once and kept; a failed ask is retried on the next call. The ask is shared
   * by every caller, so no one caller's signal cancels it: `signal` only stops this caller's wait.
   */
  modelInfo(signal?: AbortSignal): Promise<ModelInfo> {
    if (this.known) return Promise.resolve(this.known);
    if (!this.info) {
      const asked = this.client.modelInfo();
      this.info = asked;
      asked.then(
        (info) => {
          this.known = info;
        },
        () => {
          if (this.info === asked) this.info = undefined;
        },
      );
    }
    return signal ? untilAborted(this.info, signal) : this.info;
  }
}

/** `work`, or a rejection as soon as `signal` aborts (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(unavailable("request cancelled"));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(unavailable("request cancelled"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

export function requireInference(inference: InferenceService | null): InferenceService {
  if (!inference) throw unavailable("no inference sidecar is configured (set INFERENCE_ADDRESSES)");
  return inference;
}
