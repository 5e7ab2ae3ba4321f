import type { TaskDefinition } from "../domain/task-definition";
import { renderLabel } from "../prompt/template";
import type { EvalList, EvalSource } from "./lists";

export type SplitName = "train" | "validation" | "test";
export const SPLITS: SplitName[] = ["train", "validation", "test"];

export interface TimeSplit {
  /** Lists of each split, oldest first. */
  lists: Record<SplitName, EvalList[]>;
  /** Validation starts at `validationFrom`, test at `testFrom`. */
  validationFrom: Date | null;
  testFrom: Date | null;
  /** Lists left out because their outcome could still change after the next split began. */
  inGap: number;
  /** Positions whose outcome happened after the next split began (an impression named long after). */
  lateOutcomes: number;
}

/**
 * Splits lists by the time they were shown: the oldest `fractions[0]` of the lists train, the next
 * `fractions[1]` validate, the rest test. Nothing a split learns from happened after the next one
 * begins: a list shown less than `gapMs` before the next split's start is left out (the gap: by
 * default the attribution window, within which its outcomes could still come), and an outcome that
 * happened after that start anyway is dropped with its position. Prompts are built as of each list's time, so no split's prompts see history
 * from after its own lists either.
 */
export function splitByTime(
  lists: EvalList[],
  fractions: [number, number, number],
  gapMs: number,
): TimeSplit {
  const total = fractions[0] + fractions[1] + fractions[2];
  if (fractions.some((f) => !(f >= 0)) || Math.abs(total - 1) > 1e-9) {
    throw new Error(`split fractions must be >= 0 and add up to 1, got ${fractions.join(",")}`);
  }
  const sorted = [...lists].sort((a, b) => a.at.getTime() - b.at.getTime() || (a.id < b.id ? -1 : 1));
  const cut1 = Math.round(sorted.length * fractions[0]);
  const cut2 = Math.round(sorted.length * (fractions[0] + fractions[1]));
  const validationFrom = cut1 < sorted.length ? sorted[cut1].at : null;
  const testFrom = cut2 < sorted.length ? sorted[cut2].at : null;
  const out: TimeSplit = {
    lists: { train: [], validation: [], test: [] },
    validationFrom,
    testFrom,
    inGap: 0,
    lateOutcomes: 0,
  };
  sorted.forEach((list, i) => {
    const split: SplitName = i < cut1 ? "train" : i < cut2 ? "validation" : "test";
    const next = split === "train" ? validationFrom : split === "validation" ? testFrom : null;
    if (next) {
      // The next split starts at its first list's time; lists shown at that same instant belong to it.
      if (list.at.getTime() >= next.getTime() || list.at.getTime() + gapMs > next.getTime()) {
        out.inGap++;
        return;
      }
      const settled = list.candidates.filter((c) => !(c.outcomeAt && c.outcomeAt.getTime() > next.getTime()));
      out.lateOutcomes += list.candidates.length - settled.length;
      if (settled.length === 0) return;
      out.lists[split].push({ ...list, candidates: settled });
      return;
    }
    out.lists[split].push(list);
  });
  return out;
}

/** One training example: a shown position as the model saw it, and what the member answered. */
export interface TrainingExample {
  id: string;
  split: SplitName;
  task: string;
  promptVersion: string;
  impressionId: string;
  memberId: string;
  itemId: string;
  /** 1 = shown first. */
  position: number;
  shownAt: string;
  /** The whole prompt: the shared prefix then this item's question, ending in the answer stem. */
  prompt: string;
  /** The answer the member gave, as the model would continue the prompt (" apply"); null: none. */
  completion: string | null;
  /** The action taken, or null when the member did nothing with the item. */
  action: string | null;
  /** Whether that action is one of the task's positive answers. */
  positive: boolean;
  /** History entries the prompt kept and had. */
  historyUsed: number;
  historyAvailable: number;
}

/**
 * One impression with its token ids exactly as the gateway sends them to the sidecar: the shared
 * prefix once (the tokenizer's leading special ids, BOS where the model has one, included), each
 * shown candidate's suffix, and every answer label of the task. Training reads these, so it needs
 * no tokenizer of its own and can put all candidates of an impression behind one prefix, as
 * serving does.
 */
export interface ImpressionExample {
  id: string;
  split: SplitName;
  task: string;
  promptVersion: string;
  impressionId: string;
  memberId: string;
  shownAt: string;
  prefix: string;
  prefixIds: number[];
  /** The task's answers in its order; `completion` is the label text the ids encode (" apply"). */
  labels: { action: string; completion: string; positive: boolean; ids: number[] }[];
  candidates: {
    itemId: string;
    /** 1 = shown first. */
    position: number;
    /** The item's question, ending in the answer stem; it continues `prefix`. */
    suffix: string;
    suffixIds: number[];
    /** The action taken, or null when the member did nothing with the item. */
    action: string | null;
    /** Index into `labels` of the member's answer; null: no answer of the task (nothing, or another action). */
    answer: number | null;
    positive: boolean;
  }[];
  historyUsed: number;
  historyAvailable: number;
}

/** A list as both export formats: one text example per position, and the impression as token ids. */
export async function exportList(
  source: EvalSource,
  list: EvalList,
  split: SplitName,
  promptVersion: string,
): Promise<{ examples: TrainingExample[]; impression: ImpressionExample }> {
  const task: TaskDefinition = source.task;
  const prompt = await source.prompt(list);
  const answers = new Map(task.actions.map((a, i) => [a.action, { ...a, index: i }]));
  const suffixes = new Map(prompt.candidates.map((c) => [c.id, c]));
  const labelIds = new Map(prompt.labels.map((l) => [l.action, l.ids]));
  const examples: TrainingExample[] = [];
  const impression: ImpressionExample = {
    id: list.id,
    split,
    task: task.name,
    promptVersion,
    impressionId: list.id,
    memberId: list.memberId,
    shownAt: list.at.toISOString(),
    prefix: prompt.prefixText,
    prefixIds: prompt.prefixIds,
    labels: task.actions.map((a) => ({
      action: a.action,
      completion: renderLabel(a.answer),
      positive: a.positive,
      ids: labelIds.get(a.action) ?? [],
    })),
    candidates: [],
    historyUsed: prompt.historyUsed,
    historyAvailable: prompt.historyAvailable,
  };
  list.candidates.forEach((c, i) => {
    const answer = c.outcome ? answers.get(c.outcome) : undefined;
    const suffix = suffixes.get(c.itemId);
    examples.push({
      id: `${list.id}:${c.itemId}`,
      split,
      task: task.name,
      promptVersion,
      impressionId: list.id,
      memberId: list.memberId,
      itemId: c.itemId,
      position: i + 1,
      shownAt: list.at.toISOString(),
      prompt: `${prompt.prefixText}${suffix?.text ?? ""}`,
      completion: answer ? renderLabel(answer.answer) : null,
      action: c.outcome,
      positive: answer?.positive ?? false,
      historyUsed: prompt.historyUsed,
      historyAvailable: prompt.historyAvailable,
    });
    impression.candidates.push({
      itemId: c.itemId,
      position: i + 1,
      suffix: suffix?.text ?? "",
      suffixIds: suffix?.ids ?? [],
      action: c.outcome,
      answer: answer ? answer.index : null,
      positive: answer?.positive ?? false,
    });
  });
  return { examples, impression };
}

/** Every position of a list as training examples, prompted as the served path prompts them. */
export async function examplesOf(
  source: EvalSource,
  list: EvalList,
  split: SplitName,
  promptVersion: string,
): Promise<TrainingExample[]> {
  return (await exportList(source, list, split, promptVersion)).examples;
}
