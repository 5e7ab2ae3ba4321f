import { UserFacingError } from "../errors";
import type { InferenceClient } from "./client";
import type { ModelInfo } from "./types";

/** The sidecar client plus what the gateway caches about the served model. */
export class InferenceService {
  private info: Promise<ModelInfo> | undefined;

  constructor(readonly client: InferenceClient) {}

  /** ModelInfo, asked once and kept; a failed ask is retried on the next call. */
  modelInfo(signal?: AbortSignal): Promise<ModelInfo> {
    if (!this.info) {
      this.info = this.client.modelInfo({ signal });
      this.info.catch(() => {
        this.info = undefined;
      });
    }
    return this.info;
  }
}

export function requireInference(inference: InferenceService | null): InferenceService {
  if (!inference) {
    throw new UserFacingError("UNAVAILABLE", "no inference sidecar is configured (set INFERENCE_ADDRESSES)");
  }
  return inference;
}
