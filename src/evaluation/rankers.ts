import { createHash } from "node:crypto";
import type { TaskDefinition } from "../domain/task-definition";
import type { EvalList, EvalSource } from "./lists";

/**
 * What one ranker made of one list: a score per candidate (higher ranks first; ties keep the
 * shown order) and, for rankers that predict them, a probability per action per candidate.
 */
export interface ListScores {
  scores: number[];
  probabilities?: Record<string, number[]>;
}

/** A ranker scores lists; the model's scores come from the sidecar (src/evaluation/replay.ts). */
export interface Baseline {
  name: string;
  describe: string;
  score(list: EvalList): Promise<ListScores>;
}

/** A uniform number in [0, 1) per (seed, list, item): the same on every run and every machine. */
function uniform(seed: number, listId: string, itemId: string): number {
  const h = createHash("sha256").update(`${seed}\u0000${listId}\u0000${itemId}`).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

/** Random order, seeded: the floor any ranker must clear (AUC 0.5 in expectation). */
export function randomBaseline(seed: number): Baseline {
  return {
    name: "random",
    describe: `a seeded random order (seed ${seed})`,
    score: async (list) => ({ scores: list.candidates.map((c) => uniform(seed, list.id, c.itemId)) }),
  };
}

/** Global popularity: interactions with the item, by anyone, before the list was shown. */
export function popularityBaseline(source: EvalSource): Baseline {
  return {
    name: "popularity",
    describe: "interactions with the item by anyone before the impression",
    async score(list) {
      const counts = await source.popularity(list);
      return { scores: list.candidates.map((c) => counts.get(c.itemId) ?? 0) };
    },
  };
}

/** Recency: the newest item first. */
export function recencyBaseline(source: EvalSource): Baseline {
  return {
    name: "recency",
    describe: "the newest item first (items of unknown age last)",
    async score(list) {
      const created = await source.createdAt(list);
      return { scores: list.candidates.map((c) => created.get(c.itemId) ?? -1) };
    },
  };
}

/**
 * The oracle: the known true probabilities of a simulated dataset, ranked by the positive
 * actions' mass. What no model can beat on that data; only when every list carries them.
 */
export function oracleBaseline(task: TaskDefinition): Baseline {
  const positive = task.actions.filter((a) => a.positive).map((a) => a.action);
  return {
    name: "oracle",
    describe: "the dataset's true probabilities",
    async score(list) {
      const probabilities: Record<string, number[]> = {};
      for (const a of task.actions) {
        probabilities[a.action] = list.candidates.map((c) => c.trueProbabilities?.[a.action] ?? 0);
      }
      const scores = list.candidates.map((c) =>
        positive.reduce((sum, a) => sum + (c.trueProbabilities?.[a] ?? 0), 0),
      );
      return { scores, probabilities };
    },
  };
}

/** The baselines every run scores, in report order; the oracle only where the data knows the truth. */
export function baselinesFor(source: EvalSource, seed: number): Baseline[] {
  const out = [randomBaseline(seed), popularityBaseline(source), recencyBaseline(source)];
  const withTruth = source.lists.every((l) => l.candidates.every((c) => c.trueProbabilities));
  if (withTruth && source.lists.length > 0) out.push(oracleBaseline(source.task));
  return out;
}
