import { randomUUID } from "node:crypto";
import type { ImpressionRecord } from "../domain/impression";
import type { RankedCandidate } from "./rank";

/** What was shown to whom, in rank order, so outcomes can be joined to it later. */
export function toImpression(shown: {
  requestId: string;
  memberId: string;
  taskName: string;
  model: string;
  promptVersion: string;
  candidates: RankedCandidate[];
}): ImpressionRecord {
  return {
    id: randomUUID(),
    requestId: shown.requestId,
    memberId: shown.memberId,
    taskName: shown.taskName,
    model: shown.model,
    promptVersion: shown.promptVersion,
    createdAt: new Date(),
    candidates: shown.candidates.map((c) => ({
      itemId: c.itemId,
      rank: c.rank,
      score: c.score,
      probabilities: Object.fromEntries(c.actions.map((a) => [a.action, a.probability])),
    })),
  };
}
