/** A served ranking: what was shown to whom, in rank order, so outcomes can be joined to it later. */
export interface ImpressionRecord {
  id: string;
  requestId: string;
  memberId: string;
  taskName: string;
  model: string;
  /** The prompt's version (src/prompt/version.ts): the renderer's revision and the task's wording. */
  promptVersion: string;
  createdAt: Date;
  /**
   * What was shown, in rank order, with each action's probability. `trueProbabilities`: each
   * answer's known true probability, only where a simulator made the impression (dev/marketplace.ts);
   * served rankings have none.
   */
  candidates: {
    itemId: string;
    rank: number;
    score: number;
    probabilities: Record<string, number>;
    trueProbabilities?: Record<string, number>;
  }[];
}

/** Somewhere served rankings are announced (the impressions Kafka topic), a batch at a time. */
export type ImpressionPublisher = (impressions: ImpressionRecord[]) => Promise<void>;

/** Where a served ranking goes to be recorded; throws when it cannot take one now. */
export interface ImpressionSink {
  record(impression: ImpressionRecord): void;
}
