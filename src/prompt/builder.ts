import type { TaskDefinition } from "../domain/task-definition";
import { type CachedPrefix, PrefixCache } from "./prefix-cache";
import {
  type HistoryEntry,
  type ItemFields,
  LABEL_CONTEXT,
  type ProfileFields,
  renderLabel,
  renderPrefix,
  renderSuffix,
  SUFFIX_CONTEXT,
} from "./template";
import { encodePieces, type TokenCache } from "./token-cache";
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

/** What a process keeps between prompts; a hit is exactly what a miss would build. */
export interface PromptCaches {
  /** Tokenized prefixes (with their cut) by full text and budget. */
  prefixes?: PrefixCache;
  /** Token ids of suffixes and labels by text. */
  pieces?: TokenCache;
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
  /**
   * Most tokens the whole sequence may take: prefix + the longest candidate suffix + the longest
   * label + `reserveTokens` must fit, so the prefix gets whatever the suffixes leave.
   */
  maxContextTokens?: number;
  /** Tokens kept free after the longest suffix and label (an explanation's generation). */
  reserveTokens?: number;
  /**
   * Most tokens the history may add to the prefix (0: none): the prefix may take at most this
   * many more than it takes with no history. Offline evaluation sweeps it to show what history is
   * worth. Unset: only `maxPrefixTokens` and the context bound it.
   */
  maxHistoryTokens?: number;
  /** Reuses what was tokenized before for the same text. */
  caches?: PromptCaches;
}

/**
 * Renders and tokenizes a 360Brew prompt. History is cut to the newest entries whose prefix fits
 * `maxPrefixTokens`, counted with the model's tokenizer on the exact text (a binary search over
 * the number of entries kept, since BPE counts are not additive across joins).
 *
 * The parts' ids are the whole prompt's ids (prefix + suffix + label tokenized in one go), for
 * every tokenizer family that TextTokenizer.fromFile accepts: suffixes are tokenized after the
 * prefix's closing line break and labels after the answer stem, so a SentencePiece tokenizer adds
 * no dummy "▁" to them; the prefix is shared, and cached, across candidates.
 */
export async function buildPrompt(tokenizer: TextTokenizer, input: BuildInput): Promise<BuiltPrompt> {
  const { task, member, history } = input;
  const bos = tokenizer.leadingSpecialIds;
  // Suffixes and labels do not depend on the history: tokenize them first, so the prefix budget
  // can leave room for the longest of them within the model's context.
  const suffixTexts = input.candidates.map((c) => renderSuffix(task, c));
  const { prefixes, pieces } = input.caches ?? {};
  // Each tokenized as it continues what precedes it in the prompt (the prefix's line break, the
  // answer stem), so that the parts' ids are the whole prompt's ids.
  const [suffixIds, labelIds] = await Promise.all([
    encodePieces(tokenizer, suffixTexts, pieces, SUFFIX_CONTEXT),
    encodePieces(
      tokenizer,
      task.actions.map((a) => renderLabel(a.answer)),
      pieces,
      LABEL_CONTEXT,
    ),
  ]);
  let budget = input.maxPrefixTokens;
  if (input.maxContextTokens !== undefined) {
    const longest = (xs: number[][]) => xs.reduce((m, x) => Math.max(m, x.length), 0);
    budget = Math.min(
      budget,
      input.maxContextTokens - longest(suffixIds) - longest(labelIds) - (input.reserveTokens ?? 0),
    );
  }
  const encodePrefix = async (k: number, text = renderPrefix(task, member, history.slice(0, k))) => ({
    text,
    ids: [...bos, ...(await tokenizer.encode(text))],
  });

  if (input.maxHistoryTokens !== undefined) {
    if (!(Number.isInteger(input.maxHistoryTokens) && input.maxHistoryTokens >= 0)) {
      throw new Error(`maxHistoryTokens must be a non-negative integer, got ${input.maxHistoryTokens}`);
    }
    budget = Math.min(budget, (await encodePrefix(0)).ids.length + input.maxHistoryTokens);
  }
  const fullText = renderPrefix(task, member, history);
  const fit = () => fitPrefix(encodePrefix, fullText, history.length, budget);
  const { text, ids, kept } = await (prefixes
    ? prefixes.getOrBuild(PrefixCache.key(fullText, budget), fit)
    : fit());

  return {
    prefixText: text,
    prefixIds: ids,
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

/**
 * The newest `kept` history entries whose prefix fits `budget` tokens: the whole history when it
 * fits, else a binary search over the number kept, each step counted on the exact text.
 */
async function fitPrefix(
  encodePrefix: (k: number, text?: string) => Promise<{ text: string; ids: number[] }>,
  fullText: string,
  available: number,
  budget: number,
): Promise<CachedPrefix> {
  let best = await encodePrefix(available, fullText);
  let kept = available;
  if (best.ids.length <= budget) return { ...best, kept };
  let lo = 0;
  let hi = available - 1;
  best = await encodePrefix(0);
  kept = 0;
  if (best.ids.length > budget) {
    throw new PromptTooLongError(
      `prompt prefix without any history takes ${best.ids.length} tokens, over the budget of ${budget}`,
    );
  }
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const p = await encodePrefix(mid);
    if (p.ids.length <= budget) {
      lo = mid;
      best = p;
      kept = mid;
    } else {
      hi = mid - 1;
    }
  }
  return { ...best, kept };
}
