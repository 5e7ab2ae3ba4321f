import type { TaskDefinition } from "../domain/task-definition";
import type { BuiltPrompt } from "../prompt/builder";

/** One shown candidate of an evaluated list and what the member did with it. */
export interface EvalCandidate {
  itemId: string;
  /** The action that followed (one of the task's actions, or another), or null: nothing. */
  outcome: string | null;
  /** When the outcome happened, where known. */
  outcomeAt?: Date | null;
  /** Known true probability of each action, when the data came from a simulator (the oracle). */
  trueProbabilities?: Record<string, number>;
}

/** One impression (or dataset row) to evaluate: a member, a time, a list of candidates. */
export interface EvalList {
  id: string;
  memberId: string;
  /** When it was shown: prompts see only history from before it. */
  at: Date;
  candidates: EvalCandidate[];
}

/** Where evaluated lists come from, and everything rankers need from there as of each list. */
export interface EvalSource {
  /** "impressions" or "dataset:<file name>". */
  name: string;
  dataFrom: Date | null;
  dataTo: Date | null;
  task: TaskDefinition;
  lists: EvalList[];
  /**
   * The prompt the production path builds for the list as of its time, with at most
   * `maxHistoryTokens` of history (unset: the task's own budget).
   */
  prompt(list: EvalList, maxHistoryTokens?: number): Promise<BuiltPrompt>;
  /** How many interactions each candidate had, from anyone, before the list's time. */
  popularity(list: EvalList): Promise<Map<string, number>>;
  /** When each candidate was created (ms since epoch); absent when unknown. */
  createdAt(list: EvalList): Promise<Map<string, number>>;
  close?(): Promise<void>;
}
