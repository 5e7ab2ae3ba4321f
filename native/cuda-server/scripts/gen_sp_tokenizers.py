#!/usr/bin/python3
"""SentencePiece-style (and other non byte-level) tokenizer.json fixtures for the prompt tests.

The gateway tokenizes a prompt as one shared prefix plus one suffix per candidate and one label
per answer. That split is only exact when no tokenizer step crosses the cut, which byte-level BPE
guarantees for our template but SentencePiece-style tokenizers (Llama 2, Mistral, Mixtral,
Gemma, T5) do not on their own: they turn spaces into "▁" and add a dummy "▁" at the start of
every text they are given, fall back to <0xNN> byte tokens for characters outside the vocabulary,
and (without a pre-tokenizer) apply merges to the whole text at once.

Each fixture is a tokenizer.json shaped like the real files of its family (as written by
`tokenizers` 0.13-0.20 and transformers' slow->fast converters), with a small vocabulary learned
deterministically on the recruiting corpus of gen_tokenizer.py plus a few accented words:

  llama2-legacy.json     Llama 2 / Mistral 7B v0.1 / Mixtral: normalizer Sequence[Prepend("▁"),
                         Replace(" ", "▁")], pre_tokenizer null, BPE with byte_fallback and
                         <0x00>..<0xFF>, unk <unk>, TemplateProcessing "<s> $A", decoder
                         Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)].
  metaspace-first.json   the newer form (transformers `legacy=False`, tokenizers >= 0.19):
                         normalizer null, pre_tokenizer Metaspace(replacement "▁",
                         prepend_scheme "first", split false), same BPE model.
  metaspace-always.json  Metaspace(prepend_scheme "always", split true): every space-separated
                         word is its own pre-token with a "▁" in front.
  unigram.json           SentencePiece unigram (T5 / ALBERT / XLNet kind) with byte fallback,
                         Metaspace(always, split true), scores learned as log frequencies.
  wordpiece.json         BERT: BertNormalizer (lowercase), BertPreTokenizer, WordPiece "##",
                         BertProcessing [CLS] $A [SEP].
  bytelevel-llama3.json  byte-level BPE with Llama 3's Split regex before a ByteLevel step
                         (use_regex false) and "<|begin_of_text|>" added by TemplateProcessing.
  bytelevel-prefix-space.json  GPT-2/RoBERTa byte-level BPE with add_prefix_space true (a text
                         given alone gets a leading space, like the dummy prefix of SentencePiece).
  sp-newline-merges.json a SentencePiece BPE trained with "\\n" as an ordinary character, so that
                         merges such as "]\\n" and "\\nQuestion" join the end of the prefix to the
                         start of a suffix: no split at a line break is exact, and the gateway must
                         refuse it.
  sp-bracket-newline-merges.json  the same with a "]\nQ" merge: only the joint tokenization of
                         a whole prompt shows the crossing.

Usage: gen_sp_tokenizers.py --out-dir DIR   (the tests call it through
test/support/tokenizer-fixtures.ts, which caches the files under .cache/test-tokenizers)
"""
import argparse
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_tokenizer  # noqa: E402  (same folder: the corpus and the byte-level builder)

SP = "▁"
UNK, BOS, EOS = "<unk>", "<s>", "</s>"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]

_EXTRA = """Café résumé naïve São Paulo Zürich Montréal Málaga Kraków Düsseldorf München
The member has applied to the following jobs: [Title: Ingénieur logiciel, Location: Montréal]
Answer: The member will apply. Answer: The member will view. Answer: The member will dismiss.
"""


# Llama 3's pre-tokenizer split (tokenizer.json of Meta-Llama-3-8B): "]\n" is one pre-token.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus():
    return gen_tokenizer.corpus() + _EXTRA


def sp_words(text, newline_is_char=False):
    """SentencePiece's view of the training text: spaces become "▁", each line gets the dummy
    "▁" in front, and words are split before each "▁" (split_by_whitespace). Newlines end a
    word and are not learned (Llama 2 and Mistral have no piece for "\\n": it is <0x0A>), unless
    `newline_is_char`, where the whole text is one line and "\\n" merges like any character."""
    lines = [text] if newline_is_char else text.split("\n")
    words = []
    for line in lines:
        if not line:
            continue
        norm = SP + line.replace(" ", SP)
        words.extend(re.findall(f"{SP}+[^{SP}]*|[^{SP}]+", norm))
    return words


def train_bpe(words, n_merges, alphabet, learn_newlines=True):
    """Greedy BPE on word frequencies; ties broken by the pair's text. Returns merges (none that
    holds a line break unless `learn_newlines`)."""
    freq = {}
    for w in words:
        freq[w] = freq.get(w, 0) + 1
    table = [[list(w), c] for w, c in sorted(freq.items())]
    known = set(alphabet)
    merges = []
    while len(merges) < n_merges:
        counts = {}
        for syms, c in table:
            for a, b in zip(syms, syms[1:]):
                if a in known and b in known and (learn_newlines or "\n" not in a + b):
                    counts[(a, b)] = counts.get((a, b), 0) + c
        counts = {p: c for p, c in counts.items() if p[0] + p[1] not in known}
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merged = best[0] + best[1]
        merges.append(best)
        known.add(merged)
        gen_tokenizer.merge_pair(table, best)
    return merges


def alphabet_of(words):
    """The characters seen in training, except those left to byte fallback (non Latin-1)."""
    return sorted({ch for w in words for ch in w if ord(ch) < 0x250 or ch == SP})


def sp_bpe_model(newline_is_char=False, n_merges=700, crossing=(("\n", "Q"),), learn_newlines=True):
    words = sp_words(corpus(), newline_is_char)
    alphabet = alphabet_of(words)
    # Runs of spaces get their own pieces, as in Llama 2's vocabulary ("▁▁", "▁▁▁▁", ...).
    merges = [(SP, SP), (SP * 2, SP * 2)]
    if newline_is_char:
        # A line break that joins the next word, as a model trained on raw multi-line text may
        # learn: "\nQ" puts the prefix's last character in the candidate's first token.
        merges += list(crossing)
    merges += [m for m in train_bpe(words, n_merges, alphabet + [a + b for a, b in merges], learn_newlines)
               if m not in merges]
    vocab = {UNK: 0, BOS: 1, EOS: 2}
    for t in BYTE_TOKENS:
        vocab[t] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, None)
    for ch in alphabet:
        vocab.setdefault(ch, None)
    # Pieces by merge order, then single characters, as SentencePiece lists them by score.
    for tok in vocab:
        if vocab[tok] is None:
            vocab[tok] = max(v for v in vocab.values() if v is not None) + 1
    return {
        "type": "BPE", "dropout": None, "unk_token": UNK, "continuing_subword_prefix": None,
        "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
        "ignore_merges": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges],
    }, words


def added(tokens):
    return [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for t, i in tokens]


def bos_template():
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {BOS: {"id": BOS, "ids": [1], "tokens": [BOS]}},
    }


def llama_decoder():
    return {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SP}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0},
    ]}


def doc(model, normalizer, pre_tokenizer, post_processor, decoder, specials):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added(specials),
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
            "post_processor": post_processor, "decoder": decoder, "model": model}


def metaspace(scheme, split):
    return {"type": "Metaspace", "replacement": SP, "prepend_scheme": scheme, "split": split}


def unigram_model(bpe, words):
    """Unigram pieces: the BPE vocabulary, scored by log frequency of the piece in the corpus
    (longer, frequent pieces score higher), characters below every learned piece."""
    text = "\n".join(words)
    vocab = [[UNK, 0.0], [BOS, 0.0], [EOS, 0.0]] + [[t, 0.0] for t in BYTE_TOKENS]
    pieces = [t for t in bpe["vocab"] if t not in (UNK, BOS, EOS) and t not in BYTE_TOKENS]
    total = len(text)
    for p in pieces:
        count = text.count(p)
        score = math.log((count + 1) / total) if len(p) > 1 else math.log(0.5 / total) - 2.0
        vocab.append([p, round(score, 6)])
    return {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": True}


def wordpiece_doc():
    text = corpus().lower()
    words = re.findall(r"\w+|[^\w\s]", text)
    freq = {}
    for w in words:
        freq[w] = freq.get(w, 0) + 1
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({ch for w in words for ch in w})
    vocab = {}
    for t in specials + chars + [f"##{c}" for c in chars if c.isalnum()]:
        vocab.setdefault(t, len(vocab))
    for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:400]:
        vocab.setdefault(w, len(vocab))
    # A few suffix pieces so that words split into "word ##piece".
    for suf in ["ing", "ed", "er", "ers", "s", "ly", "tion"]:
        vocab.setdefault(f"##{suf}", len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added([(t, vocab[t]) for t in specials]),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", vocab["[SEP]"]],
                           "cls": ["[CLS]", vocab["[CLS]"]]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def build_all():
    specials = [(UNK, 0), (BOS, 1), (EOS, 2)]
    bpe, words = sp_bpe_model()
    legacy_norm = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": SP},
        {"type": "Replace", "pattern": {"String": " "}, "content": SP},
    ]}
    crossing, _ = sp_bpe_model(newline_is_char=True)
    # "]\nQ" only: a line break at the start of a text still splits cleanly, but after the "]"
    # that ends every history line it does not.
    bracket, _ = sp_bpe_model(newline_is_char=True, crossing=(("]", "\n"), ("]\n", "Q")),
                             learn_newlines=False)
    bytelevel = gen_tokenizer.build(1024)
    bytelevel["pre_tokenizer"]["add_prefix_space"] = True
    llama3 = gen_tokenizer.build(1024)
    bos = gen_tokenizer.BOS_TOKEN
    bos_id = next(t["id"] for t in llama3["added_tokens"] if t["content"] == bos)
    llama3["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]}
    llama3["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}},
    ]}
    return {
        "bytelevel-llama3.json": llama3,
        "llama2-legacy.json": doc(bpe, legacy_norm, None, bos_template(), llama_decoder(), specials),
        "metaspace-first.json": doc(bpe, None, metaspace("first", False), bos_template(),
                                    llama_decoder(), specials),
        "metaspace-always.json": doc(bpe, None, metaspace("always", True), bos_template(),
                                     llama_decoder(), specials),
        "unigram.json": doc(unigram_model(bpe, words), None, metaspace("always", True),
                            bos_template(), llama_decoder(), specials),
        "wordpiece.json": wordpiece_doc(),
        "bytelevel-prefix-space.json": bytelevel,
        "sp-newline-merges.json": doc(crossing, legacy_norm, None, bos_template(),
                                      llama_decoder(), specials),
        "sp-bracket-newline-merges.json": doc(bracket, legacy_norm, None, bos_template(),
                                              llama_decoder(), specials),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, d in build_all().items():
        with open(os.path.join(args.out_dir, name), "w", encoding="utf-8") as f:
            json.dump(d, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
