import { DomainError } from "./errors";

/**
 * What the ranking paths report about themselves (latency by outcome, an explanation's first
 * token), for the metrics module to record. Outcomes come from a fixed list, never from what a
 * client sent.
 */
export interface RankingObserver {
  ranking(outcome: Outcome, seconds: number): void;
  explanationFirstToken(seconds: number): void;
  explanation(outcome: Outcome, seconds: number): void;
}

export type Outcome = "ok" | "bad_user_input" | "not_found" | "unavailable" | "cancelled" | "error";

export const ignoreRankings: RankingObserver = {
  ranking() {},
  explanationFirstToken() {},
  explanation() {},
};

/** The outcome a failure counts as. */
export function outcomeOf(err: unknown, signal?: AbortSignal): Outcome {
  if (signal?.aborted) return "cancelled";
  if (err instanceof DomainError) {
    switch (err.code) {
      case "BAD_USER_INPUT":
        return "bad_user_input";
      case "NOT_FOUND":
        return "not_found";
      case "UNAVAILABLE":
        return "unavailable";
      default:
        return "error";
    }
  }
  return "error";
}

/** Seconds since `started` (a performance.now() reading). */
export const since = (started: number) => (performance.now() - started) / 1000;
