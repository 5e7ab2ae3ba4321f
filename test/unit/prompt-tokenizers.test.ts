import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { type BuiltPrompt, buildPrompt } from "../../src/prompt/builder";
import { PrefixCache } from "../../src/prompt/prefix-cache";
import type { HistoryEntry } from "../../src/prompt/template";
import { TokenCache } from "../../src/prompt/token-cache";
import { TextTokenizer, TokenizerSplitError } from "../../src/prompt/tokenizer";
import { testModel } from "../support/models";
import { tokenizerFixtures } from "../support/tokenizer-fixtures";

/**
 * The prompt split (shared prefix + per-candidate suffix + label, tokenized apart) against
 * whole-prompt tokenization, on tokenizers of every family. The fixtures are made by
 * native/cuda-server/scripts/gen_sp_tokenizers.py, shaped like the real files of each family.
 */
const fixture = (name: string) => join(tokenizerFixtures(), name);

const SPLITTABLE: [string, () => string][] = [
  ["byte-level BPE (Llama 3 style, the test model's)", () => join(testModel(), "tokenizer.json")],
  ["byte-level BPE with Llama 3's split regex and BOS", () => fixture("bytelevel-llama3.json")],
  ["byte-level BPE with add_prefix_space (RoBERTa style)", () => fixture("bytelevel-prefix-space.json")],
  ["SentencePiece BPE, Llama 2 legacy normalizer", () => fixture("llama2-legacy.json")],
  ["SentencePiece BPE, Metaspace prepend first", () => fixture("metaspace-first.json")],
  ["SentencePiece BPE, Metaspace prepend always + split", () => fixture("metaspace-always.json")],
  ["SentencePiece Unigram with byte fallback", () => fixture("unigram.json")],
  ["WordPiece (BERT)", () => fixture("wordpiece.json")],
];

const member = {
  currentPosition: "Ingénieur logiciel",
  currentCompany: "Société Générale",
  location: "Zürich",
  skills: ["Go", "日本語", "C++"],
  yearsOfExperience: 4,
};
const job = (i: number, description = "Build distributed systems in Go and Kubernetes.") => ({
  title: `Software Engineer ${i}`,
  location: "New York",
  country: "USA",
  company: `Company ${i}`,
  description,
});
const history: HistoryEntry[] = Array.from({ length: 12 }, (_, i) => ({
  action: i % 3 === 0 ? "APPLY" : i % 3 === 1 ? "VIEW" : "DISMISS",
  item: job(i, i % 2 === 0 ? "Café ☕ — naïve résumé 日本語 🚀" : "Build systems."),
}));
const candidates = [
  { id: "ascii", ...job(100) },
  { id: "accents-cjk", ...job(101, "Café ☕ — naïve résumé 日本語") },
  { id: "emoji-last", ...job(102), title: "Data Scientist 🚀", attributes: { salary: 120000 } },
  { id: "sparse", title: "Nurse", location: null, country: null, company: null, description: null },
];

/** Every candidate and label of `p` against the whole prompt tokenized in one go. */
async function assertWholeEqualsParts(tk: TextTokenizer, p: BuiltPrompt): Promise<void> {
  for (const c of p.candidates) {
    const whole = [...tk.leadingSpecialIds, ...(await tk.encode(p.prefixText + c.text))];
    assert.deepEqual([...p.prefixIds, ...c.ids], whole, `prefix + suffix of ${c.id}`);
    for (const l of p.labels) {
      const withLabel = [
        ...tk.leadingSpecialIds,
        ...(await tk.encode(`${p.prefixText}${c.text} ${l.answer}`)),
      ];
      const parts = [...p.prefixIds, ...c.ids, ...l.ids];
      assert.deepEqual(
        tk.tokens(parts),
        tk.tokens(withLabel),
        `prefix + suffix + label of ${c.id} / ${l.answer}`,
      );
    }
  }
}

for (const [family, path] of SPLITTABLE) {
  describe(`prompt split with ${family}`, () => {
    let tk: TextTokenizer;
    before(async () => {
      tk = await TextTokenizer.fromFile(path());
    });

    it("gives the whole prompt's ids, with history and without, unicode and emoji included", async () => {
      for (const h of [history, []]) {
        const p = await buildPrompt(tk, {
          task: JOB_APPLY_TASK,
          member,
          history: h,
          candidates,
          maxPrefixTokens: 100_000,
        });
        assert.equal(p.historyUsed, h.length);
        await assertWholeEqualsParts(tk, p);
      }
    });

    it("gives the same ids from its caches, with the history cut to a budget", async () => {
      const caches = { prefixes: new PrefixCache(4), pieces: new TokenCache(100) };
      const full = await buildPrompt(tk, {
        task: JOB_APPLY_TASK,
        member,
        history,
        candidates,
        maxPrefixTokens: 100_000,
      });
      const input = {
        task: JOB_APPLY_TASK,
        member,
        history,
        candidates,
        maxPrefixTokens: full.prefixIds.length - 20,
        caches,
      };
      const miss = await buildPrompt(tk, input);
      const hit = await buildPrompt(tk, input);
      assert.ok(miss.historyUsed < history.length);
      assert.deepEqual(hit, miss);
      assert.deepEqual(await buildPrompt(tk, { ...input, caches: undefined }), miss);
      assert.equal(caches.pieces.size, candidates.length + JOB_APPLY_TASK.actions.length);
      await assertWholeEqualsParts(tk, miss);
    });

    it("splits at a line break whatever surrounds it: runs of spaces, blank lines, byte fallback", async () => {
      const ends = ["Company: Acme]\n", "interactions.\n", "日本語 🚀]\n", "Description: 3x12h.]\n"];
      const starts = [
        "Question: Will  the   member apply?\nAnswer: The member will",
        "Question: 東京 🙂 café\n\nAnswer:  will",
        "Q",
      ];
      for (const end of ends) {
        const prefix = `Instruction: rank  these.\n\n${end}`;
        const prefixIds = await tk.encode(prefix);
        for (const start of starts) {
          const [suffix] = await tk.encodeMany([start], "\n");
          assert.deepEqual(
            tk.tokens([...prefixIds, ...suffix]),
            tk.tokens(await tk.encode(prefix + start)),
            JSON.stringify(prefix + start),
          );
        }
      }
    });

    it("decodes the parts back to the prompt's text", async () => {
      const p = await buildPrompt(tk, {
        task: JOB_APPLY_TASK,
        member,
        history,
        candidates,
        maxPrefixTokens: 100_000,
      });
      const c = p.candidates[1];
      let text = await tk.decode([...p.prefixIds, ...c.ids, ...p.labels[0].ids]);
      // The added prefix space decodes too, as RoBERTa's does.
      if (/add_prefix_space/.test(family)) text = text.replace(/^ /, "");
      const lossy = /WordPiece/.test(family); // lowercases and respaces punctuation
      if (!lossy) assert.equal(text, `${p.prefixText}${c.text} apply`);
      else assert.match(text, /answer : the member will apply$/);
    });
  });
}

describe("where tokenizing the parts alone differs from the whole prompt", () => {
  /** The first tokens of a text tokenized alone, and tokenized after the prefix's line break. */
  async function aloneAndInPrompt(tk: TextTokenizer, text: string, after: string) {
    const [alone] = await tk.encodeMany([text]);
    const [inPrompt] = await tk.encodeMany([text], after);
    return { alone: tk.tokens(alone).slice(0, 3), inPrompt: tk.tokens(inPrompt).slice(0, 3) };
  }
  const suffix =
    "Question: Will the member apply to the following job: [Title: Nurse]\nAnswer: The member will";
  const stem = "\nAnswer: The member will";

  it("a Llama 2 style normalizer adds a dummy ▁ to every suffix and label given alone", async () => {
    const tk = await TextTokenizer.fromFile(fixture("llama2-legacy.json"));
    assert.deepEqual(tk.leadingSpecialIds, [1]);
    assert.deepEqual(await aloneAndInPrompt(tk, suffix, "\n"), {
      alone: ["▁Question:", "▁Will", "▁the"],
      inPrompt: ["Question:", "▁Will", "▁the"],
    });
    // " apply" alone becomes "▁▁apply": two markers, another word than the prompt's "▁apply".
    assert.deepEqual(await aloneAndInPrompt(tk, " apply", stem), {
      alone: ["▁▁", "a", "pp"],
      inPrompt: ["▁apply"],
    });
  });

  it("a Metaspace pre-tokenizer adds it to suffixes (labels start with a space and keep theirs)", async () => {
    for (const name of ["metaspace-first.json", "metaspace-always.json", "unigram.json"]) {
      const tk = await TextTokenizer.fromFile(fixture(name));
      assert.deepEqual(await aloneAndInPrompt(tk, suffix, "\n"), {
        alone: ["▁Question:", "▁Will", "▁the"],
        inPrompt: ["Question:", "▁Will", "▁the"],
      });
      assert.deepEqual(await aloneAndInPrompt(tk, " apply", stem), {
        alone: ["▁apply"],
        inPrompt: ["▁apply"],
      });
    }
  });

  it("byte-level BPE with add_prefix_space adds a space to suffixes given alone", async () => {
    const tk = await TextTokenizer.fromFile(fixture("bytelevel-prefix-space.json"));
    assert.deepEqual(await aloneAndInPrompt(tk, suffix, "\n"), {
      alone: ["Ġ", "Question", ":"],
      inPrompt: ["Question", ":", "ĠWill"],
    });
  });

  it("byte-level BPE without it and WordPiece give the same ids alone", async () => {
    for (const path of [join(testModel(), "tokenizer.json"), fixture("wordpiece.json")]) {
      const tk = await TextTokenizer.fromFile(path);
      const [alone] = await tk.encodeMany([suffix, " apply"]);
      assert.deepEqual(await tk.encodeMany([suffix], "\n"), [alone]);
    }
  });

  it("leading special ids are the ones before the text (BERT's [SEP] after it is left out)", async () => {
    const tk = await TextTokenizer.fromFile(fixture("wordpiece.json"));
    assert.deepEqual(tk.tokens(tk.leadingSpecialIds), ["[CLS]"]);
    const llama3 = await TextTokenizer.fromFile(fixture("bytelevel-llama3.json"));
    assert.deepEqual(llama3.tokens(llama3.leadingSpecialIds), ["<|begin_of_text|>"]);
  });
});

describe("a tokenizer the builder cannot split", () => {
  it("is refused at load, naming the file and the tokens that cross the cut", async () => {
    await assert.rejects(TextTokenizer.fromFile(fixture("sp-newline-merges.json")), (err: unknown) => {
      assert.ok(err instanceof TokenizerSplitError, String(err));
      assert.match(err.message, /sp-newline-merges\.json cannot be split into a shared prompt prefix/);
      assert.match(err.message, /"\\nQ"/, "names the token that holds the line break");
      assert.match(err.message, /a token joins the two/);
      return true;
    });
  });

  it("is refused when only the whole prompt shows the crossing (a merge of the prefix's last ']')", async () => {
    await assert.rejects(
      TextTokenizer.fromFile(fixture("sp-bracket-newline-merges.json")),
      (err: unknown) => {
        assert.ok(err instanceof TokenizerSplitError, String(err));
        assert.match(err.message, /sp-bracket-newline-merges\.json cannot be split/);
        assert.match(err.message, /"\]\\nQ"/, "names the token that crosses the cut");
        assert.match(err.message, /a token crosses the line break where the prompt is cut/);
        return true;
      },
    );
  });
});
