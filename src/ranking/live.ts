import type { GatewayPubSub } from "../bus/pubsub";
import { type Ranking, type RecommendationDeps, type RecommendationRequest, recommend } from "./recommend";

export interface LivePrediction {
  reason: "INITIAL" | "INTERACTION";
  eventIds: string[];
  ranking: Ranking;
}

/**
 * The member's current ranking now, then again each time new interactions of the member are
 * stored anywhere (this replica or, through Redis, any other). Each push rebuilds the prompt, so
 * the new history is in it, and re-scores the member's current candidates.
 */
export async function* livePredictions(
  deps: RecommendationDeps,
  pubSub: GatewayPubSub,
  req: RecommendationRequest,
  signal: AbortSignal,
): AsyncGenerator<LivePrediction> {
  const iterator = pubSub.subscribe("member.interactions", req.memberId)[Symbol.asyncIterator]();
  // The listener is attached on the first next(): ask for it before the first ranking so that
  // nothing stored meanwhile is missed.
  let pending = iterator.next();
  const stop = () => void iterator.return?.();
  signal.addEventListener("abort", stop, { once: true });
  try {
    yield {
      reason: "INITIAL",
      eventIds: [],
      ranking: await recommend(deps, req, signal),
    };
    for (;;) {
      const next = await pending;
      if (next.done || signal.aborted) return;
      pending = iterator.next();
      const ranking = await recommend(deps, req, signal);
      yield { reason: "INTERACTION", eventIds: next.value.eventIds, ranking };
    }
  } finally {
    signal.removeEventListener("abort", stop);
    await iterator.return?.();
  }
}
