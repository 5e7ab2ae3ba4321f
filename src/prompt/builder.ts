import type { TaskDefinition } from "./task-definition";
import {
  type HistoryEntry,
  type ItemFields,
  type ProfileFields,
  renderLabel,
  renderPrefix,
  renderSuffix,
} from "./template";
import type { TextTokenizer } from "./tokenizer";

export interface Candidate extends ItemFields {
  id: string;
}

export interface PromptLabel {
  action: string;
  answer: string;
  positive: boolean;
  ids: number[];
}

/** One shared prefix and one suffix per candidate, as text and as token ids. */
export interface BuiltPrompt {
  prefixText: string;
  /** The tokenizer's leading special ids (BOS, when the model uses one) + prefix tokens. */
  prefixIds: number[];
  candidates: { id: string; text: string; ids: number[] }[];
  labels: PromptLabel[];
  /** History entries that fit the budget (the newest ones) and how many were offered. */
  historyUsed: number;
  historyAvailable: number;
}

/** The prompt cannot fit its budget even with no history at all. */
export class PromptTooLongError extends Error {}

export interface BuildInput {
  task: TaskDefinition;
  member: ProfileFields;
  /** Past interactions, newest first. */
  history: HistoryEntry[];
  candidates: Candidate[];
  /** Most tokens the prefix (BOS included) may take. */
  maxPrefixTokens: number;
}

/**
 * Renders and tokenizes a 360Brew prompt. History is cut to the newest entries whose prefix fits
 * `maxPrefixTokens`, counted with the model's tokenizer on the exact text (a binary search over
 * the number of entries kept, since BPE counts are not additive across joins).
 */
export async function buildPrompt(tokenizer: TextTokenizer, input: BuildInput): Promise<BuiltPrompt> {
  const { task, member, history } = input;
  const bos = tokenizer.leadingSpecialIds;
  const encodePrefix = async (k: number) => {
    const text = renderPrefix(task, member, history.slice(0, k));
    return { text, ids: [...bos, ...(await tokenizer.encode(text))] };
  };

  let best = await encodePrefix(history.length);
  let kept = history.length;
  if (best.ids.length > input.maxPrefixTokens) {
    let lo = 0;
    let hi = history.length - 1;
    best = await encodePrefix(0);
    kept = 0;
    if (best.ids.length > input.maxPrefixTokens) {
      throw new PromptTooLongError(
        `prompt prefix without any history takes ${best.ids.length} tokens, over the budget of ${input.maxPrefixTokens}`,
      );
    }
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const p = await encodePrefix(mid);
      if (p.ids.length <= input.maxPrefixTokens) {
        lo = mid;
        best = p;
        kept = mid;
      } else {
        hi = mid - 1;
      }
    }
  }

  const suffixTexts = input.candidates.map((c) => renderSuffix(task, c));
  const [suffixIds, labelIds] = await Promise.all([
    tokenizer.encodeMany(suffixTexts),
    tokenizer.encodeMany(task.actions.map((a) => renderLabel(a.answer))),
  ]);
  return {
    prefixText: best.text,
    prefixIds: best.ids,
    candidates: input.candidates.map((c, i) => ({ id: c.id, text: suffixTexts[i], ids: suffixIds[i] })),
    labels: task.actions.map((a, i) => ({
      action: a.action,
      answer: a.answer,
      positive: a.positive,
      ids: labelIds[i],
    })),
    historyUsed: kept,
    historyAvailable: history.length,
  };
}
