import { JOB_APPLY_TASK } from "../domain/task-definition";
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
import type { TextTokenizer } from "./tokenizer";

/**
 * Checks that a tokenizer gives a prompt the same ids whole as in parts: the shared prefix, each
 * candidate's suffix tokenized after the prefix's closing line break, and each label tokenized
 * after the answer stem, which is how the builder tokenizes them so that the prefix's ids can be
 * shared (and cached) across candidates. That holds when no token crosses a line break followed
 * by a word: byte-level BPE (GPT-2, Llama 3, Qwen) splits there before any merge;
 * SentencePiece-style tokenizers (Llama 2, Mistral: a "▁" normalizer or Metaspace pre-tokenizer,
 * byte fallback, merges over the whole text) have no piece that holds a line break with
 * anything else; WordPiece and Unigram segment words that end at the break. A tokenizer trained
 * with merges across line breaks breaks it, and is refused.
 *
 * The probes render real prompts of the template with what stresses a cut: history and none,
 * accents, CJK and emoji (byte fallback), digits and brackets before the line break, runs of
 * spaces. Labels and suffixes are also checked at every build (TextTokenizer.encodeMany throws
 * when a context's ids change with what follows it); this check covers the rest, the prefix.
 *
 * Returns null when every probe agrees, else what differs (texts and tokens at the first
 * difference).
 */
export async function checkSplit(tokenizer: TextTokenizer): Promise<string | null> {
  const task = JOB_APPLY_TASK;
  const labels = task.actions.map((a) => renderLabel(a.answer));
  const prefixes = PROBE_HISTORIES.flatMap((h) => PROBE_MEMBERS.map((m) => renderPrefix(task, m, h)));
  const suffixes = PROBE_ITEMS.map((item) => renderSuffix(task, item));
  let prefixIds: number[][];
  let suffixIds: number[][];
  let labelIds: number[][];
  try {
    [prefixIds, suffixIds, labelIds] = await Promise.all([
      tokenizer.encodeMany(prefixes),
      tokenizer.encodeMany(suffixes, SUFFIX_CONTEXT),
      tokenizer.encodeMany(labels, LABEL_CONTEXT),
    ]);
  } catch (err) {
    return (err as Error).message.replace(`tokenizer ${tokenizer.path}: `, "");
  }
  const joints: { text: string; parts: number[] }[] = [];
  prefixes.forEach((p, i) => {
    suffixes.forEach((s, j) => {
      labels.forEach((l, k) => {
        joints.push({ text: p + s + l, parts: [...prefixIds[i], ...suffixIds[j], ...labelIds[k]] });
      });
    });
  });
  const whole = await tokenizer.encodeMany(joints.map((j) => j.text));
  for (let n = 0; n < joints.length; n++) {
    const diff = firstDifference(whole[n], joints[n].parts);
    if (diff < 0) continue;
    const from = Math.max(0, diff - 3);
    return (
      `the whole prompt tokenizes as ${JSON.stringify(tokenizer.tokens(whole[n].slice(from, diff + 4)))} ` +
      `where its prefix, suffix and label tokenized apart give ` +
      `${JSON.stringify(tokenizer.tokens(joints[n].parts.slice(from, diff + 4)))} ` +
      `(token ${diff} of ${JSON.stringify(ellipsize(joints[n].text))}): a token crosses the line ` +
      `break where the prompt is cut, so the prefix's ids depend on the candidate`
    );
  }
  return null;
}

function firstDifference(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function ellipsize(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 40)} … ${text.slice(-80)}`;
}

const PROBE_MEMBERS: ProfileFields[] = [
  {
    currentPosition: "Ingénieure logiciel",
    currentCompany: "Société Générale",
    location: "Montréal, Québec",
    skills: ["C++", "日本語", "Go"],
    yearsOfExperience: 7,
  },
  {},
];

const job = (title: string, description: string | null, extra: Partial<ItemFields> = {}): ItemFields => ({
  title,
  location: "New York",
  country: "USA",
  company: "Acme",
  description,
  ...extra,
});

const PROBE_ITEMS: ItemFields[] = [
  job("Software Engineer", "Build distributed systems in Go and Kubernetes."),
  job("Café ☕ barista — naïve résumé", "日本語 と 中文 🚀🚀", {
    attributes: { salary: 120000, remote: true },
  }),
  job("Data   Scientist  2", null, { location: null, country: null, company: "Ünïcödé 🙂" }),
];

const PROBE_HISTORIES: HistoryEntry[][] = [
  [],
  [
    { action: "APPLY", item: PROBE_ITEMS[1] },
    { action: "VIEW", item: PROBE_ITEMS[0] },
    { action: "DISMISS", item: job("Nurse", "Night shifts, 3x12h.", { attributes: { level: 3 } }) },
  ],
  [{ action: "VIEW", item: job("Designer 🎨", "UX for 東京 clients 🙂") }],
];
