import type { TaskDefinition } from "../domain/task-definition";

/**
 * Renders 360Brew prompts as text, in the format of the paper's Table 1:
 *
 *   Instruction: ...
 *   Note: ...
 *   Member Profile: Current position: ..., current company: ..., Location: ....
 *   Past job interaction data:
 *   Member has applied to the following jobs: [Title: ..., Location: ..., ...]
 *   Question: Will the member apply to the following job: [...]
 *   Answer: The member will
 *
 * Everything up to the history is the shared prefix; the question and answer stem are one suffix
 * per candidate. The prefix ends with a newline so that tokenizing the two parts separately gives
 * the same tokens as tokenizing them together: byte-level BPE never merges across a line break
 * followed by a word, and SentencePiece-style tokenizers (whose merges do not cross a line break
 * either) get each suffix tokenized after a line break (SUFFIX_CONTEXT) and each label after the
 * answer stem (LABEL_CONTEXT), so that no dummy "▁" is added in front of them. split-check.ts
 * verifies this for the tokenizer at hand.
 */

export interface ProfileFields {
  currentPosition?: string | null;
  currentCompany?: string | null;
  location?: string | null;
  skills?: string[] | null;
  yearsOfExperience?: number | null;
  summary?: string | null;
}

export interface ItemFields {
  title: string;
  location?: string | null;
  country?: string | null;
  company?: string | null;
  description?: string | null;
  attributes?: unknown;
}

/** One past interaction, as read from the database. */
export interface HistoryEntry {
  action: string;
  item: ItemFields;
}

// Values are single-line: a newline inside a description would break the prompt's structure.
function clean(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}

function present(value: string | null | undefined): value is string {
  return value !== null && value !== undefined && clean(value) !== "";
}

/** Adds `label: value`, the value cleaned once, when it has any text. */
function pushField(parts: string[], label: string, value: string | null | undefined): void {
  if (value === null || value === undefined) return;
  const text = clean(value);
  if (text !== "") parts.push(`${label}: ${text}`);
}

export function renderProfile(m: ProfileFields): string {
  const parts: string[] = [];
  pushField(parts, "Current position", m.currentPosition);
  pushField(parts, "current company", m.currentCompany);
  pushField(parts, "Location", m.location);
  const skills = (m.skills ?? [])
    .map((s) => (s === null || s === undefined ? "" : clean(s)))
    .filter((s) => s !== "");
  if (skills.length > 0) parts.push(`Skills: ${skills.join(", ")}`);
  if (m.yearsOfExperience !== null && m.yearsOfExperience !== undefined) {
    parts.push(`Years of experience: ${m.yearsOfExperience}`);
  }
  pushField(parts, "Summary", m.summary);
  return parts.length > 0 ? `${parts.join(", ")}.` : "No profile information.";
}

/** `[Title: ..., Location: ..., Country: ..., Company: ..., Description: ..., <Attribute>: ...]` */
export function renderItem(item: ItemFields): string {
  const parts = [`Title: ${clean(item.title)}`];
  pushField(parts, "Location", item.location);
  pushField(parts, "Country", item.country);
  pushField(parts, "Company", item.company);
  pushField(parts, "Description", item.description);
  if (item.attributes && typeof item.attributes === "object" && !Array.isArray(item.attributes)) {
    for (const [key, value] of Object.entries(item.attributes as Record<string, unknown>)) {
      if (value === null || value === undefined || typeof value === "object") continue;
      pushField(parts, clean(key), String(value));
    }
  }
  return `[${parts.join(", ")}]`;
}

/**
 * Past interactions grouped by action in the task's order of actions, newest first within a
 * group. Interactions whose action the task does not name are left out.
 */
export function renderHistory(task: TaskDefinition, history: HistoryEntry[]): string {
  const lines: string[] = [];
  for (const a of task.actions) {
    const items = history.filter((h) => h.action === a.action).map((h) => renderItem(h.item));
    if (items.length > 0) {
      lines.push(`Member has ${a.historyPhrase} the following ${task.itemNounPlural}: ${items.join(", ")}`);
    }
  }
  if (lines.length === 0) lines.push(`Member has no past ${task.itemNoun} interactions.`);
  return lines.join("\n");
}

export function renderPrefix(task: TaskDefinition, member: ProfileFields, history: HistoryEntry[]): string {
  const lines = [`Instruction: ${task.instruction}`];
  if (present(task.note)) lines.push(`Note: ${task.note}`);
  lines.push(`Member Profile: ${renderProfile(member)}`);
  lines.push(`Past ${task.itemNoun} interaction data:`);
  lines.push(renderHistory(task, history));
  return `${lines.join("\n")}\n`;
}

/** The answer stem; each label continues it with a space and the answer word. */
export const ANSWER_STEM = "Answer: The member will";

export function renderSuffix(task: TaskDefinition, item: ItemFields): string {
  return `Question: Will the member ${task.questionVerb} the following ${task.itemNoun}: ${renderItem(item)}\n${ANSWER_STEM}`;
}

export function renderLabel(answer: string): string {
  return ` ${answer}`;
}

/**
 * What every candidate suffix follows: the end of the prefix. Suffixes are tokenized after it (and
 * its ids dropped) so that they get the ids they get inside the whole prompt; tokenized alone, a
 * SentencePiece tokenizer would start them with a dummy "▁" the whole prompt does not have.
 */
export const SUFFIX_CONTEXT = "\n";

/** What every label follows: the end of each suffix, the answer stem on its own line. */
export const LABEL_CONTEXT = `\n${ANSWER_STEM}`;
