#!/usr/bin/python3
"""Deterministic byte-level BPE tokenizer for test checkpoints.

Writes a Hugging Face `tokenizers`-compatible tokenizer.json (GPT-2 / Llama 3 style:
ByteLevel pre-tokenizer with the GPT-2 split regex, ByteLevel decoder, BPE model), so the
gateway can tokenize prompts for the random-weight test models with the official library.

Layout of the vocabulary (vocab_size = V):
  ids 0..255       the 256 byte symbols of GPT-2's bytes_to_unicode, in byte order
  ids 256..V-4     merges learned on the built-in recruiting corpus below, in merge order
  ids V-3, V-2, V-1  "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>" (added tokens, special)

Training is a plain greedy BPE: count adjacent symbol pairs over the unique pre-tokens of the
corpus (weighted by frequency), merge the most frequent pair, ties broken by the pair's text so
the result never depends on dict order. When the corpus has no pair left to merge (large
vocab sizes), merges of already-known letter tokens are added in a fixed order; they are valid
BPE merges that simply fire rarely, which keeps every id reachable and the size exact.

With --corpus FILE the merges are learned on that text followed by the built-in corpus: a
tokenizer fitted to a domain (the demo model's, fitted to the synthetic marketplace's prompts,
gives most words one token, so prompts are about half as long as with the built-in merges).

Usage: gen_tokenizer.py --vocab-size 2048 --out DIR/tokenizer.json [--corpus FILE]
"""
import argparse
import json
import os
import re
import sys

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"]
BOS_TOKEN, EOS_TOKEN, PAD_TOKEN = SPECIAL_TOKENS

# GPT-2's split pattern. Python's `re` lacks \p{L}/\p{N}; [^\W\d_] is "letter" and \d is
# "number" for the text this module encodes (tests and training use ASCII/Latin text).
_SPLIT = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")

_TITLES = [
    "software engineer", "senior software engineer", "staff engineer", "data scientist",
    "machine learning engineer", "product manager", "engineering manager", "recruiter",
    "technical recruiter", "sales manager", "account executive", "marketing manager",
    "designer", "product designer", "data analyst", "business analyst", "nurse",
    "registered nurse", "teacher", "accountant", "financial analyst", "project manager",
    "operations manager", "customer success manager", "backend developer",
    "frontend developer", "full stack developer", "site reliability engineer",
    "security engineer", "research scientist", "consultant", "director of engineering",
    "vice president", "intern", "software engineering intern", "hr business partner",
]
_SKILLS = [
    "python", "java", "javascript", "typescript", "c++", "go", "rust", "sql", "kubernetes",
    "docker", "aws", "gcp", "azure", "react", "node.js", "graphql", "machine learning",
    "deep learning", "pytorch", "tensorflow", "data analysis", "statistics", "leadership",
    "communication", "project management", "agile", "scrum", "excel", "tableau", "spark",
    "kafka", "postgresql", "redis", "linux", "networking", "negotiation", "recruiting",
    "sourcing", "customer service", "sales", "marketing", "seo", "figma", "user research",
]
_COMPANIES = [
    "Google", "LinkedIn", "Microsoft", "Amazon", "Apple", "Meta", "Netflix", "Salesforce",
    "Oracle", "IBM", "Intel", "Nvidia", "Adobe", "Uber", "Airbnb", "Stripe", "Shopify",
    "Spotify", "Deloitte", "Accenture", "Goldman Sachs", "JPMorgan", "Pfizer", "Kaiser",
]
_CITIES = [
    "Sunnyvale, California", "San Francisco, California", "Mountain View, California",
    "Seattle, Washington", "New York, New York", "Austin, Texas", "Boston, Massachusetts",
    "Chicago, Illinois", "Denver, Colorado", "Atlanta, Georgia", "London", "Dublin",
    "Berlin", "Paris", "Toronto", "Bangalore", "Singapore", "Sydney", "Remote",
]
_COUNTRIES = ["United States", "United Kingdom", "Ireland", "Germany", "France", "Canada",
              "India", "Australia"]
_ACTIONS = ["apply", "view", "dismiss", "applied", "viewed", "dismissed"]

_PREAMBLE = """Instruction: You are provided a member's profile and a set of jobs, their description,
and interactions that the member had with the jobs. For each past job, the member has taken one
of the following actions: applied, viewed, dismissed, or did not interact. Your task is to
analyze the job interaction data along with the member's profile to predict whether the member
will apply, view, or dismiss a new job referred to as the "Question" job.
Note: Focus on skills, location, and years of experience more than other criteria.
Explain in a few sentences why the member would apply to this job, and why they would not.
The member has 5 years of experience and a degree in computer science. Salary: $120,000 - $150,000.
The member will apply. The member will view. The member will dismiss. Answer: The member will
Question: Will the member apply to the following job? Answer: yes. Answer: no.
"""


def corpus():
    """The built-in English training text: fixed prose plus templated profile/job lines."""
    lines = [_PREAMBLE]
    n = 0
    for i, title in enumerate(_TITLES):
        company = _COMPANIES[i % len(_COMPANIES)]
        city = _CITIES[i % len(_CITIES)]
        country = _COUNTRIES[i % len(_COUNTRIES)]
        skills = ", ".join(_SKILLS[(i * 3 + k) % len(_SKILLS)] for k in range(4))
        action = _ACTIONS[i % 3]
        lines.append(
            f"Member Profile: Current position: {title}, current company: {company}, "
            f"Location: {city}. Skills: {skills}.\n"
            f"Member has {_ACTIONS[3 + i % 3]} the following jobs: [Title: {title}, "
            f"Location: {city}, Country: {country}, Company: {company}, "
            f"Description: We are hiring a {title} with {2 + i % 9} years of experience in "
            f"{skills}.]\n"
            f"Question: Will the member {action} the following job: [Title: "
            f"{_TITLES[(i + 5) % len(_TITLES)]}, Company: {_COMPANIES[(i + 7) % len(_COMPANIES)]}]\n"
            f"Answer: The member will {action}\n")
        n += 1
    for s in _SKILLS:
        lines.append(f"Experience with {s} is required. Strong {s} skills preferred.\n")
    return "".join(lines)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return [table[b] for b in range(256)]


BYTE_SYMBOLS = bytes_to_unicode()  # index = byte value


def pretokenize(text):
    """Split like the ByteLevel pre-tokenizer and map each piece's UTF-8 bytes to symbols."""
    return ["".join(BYTE_SYMBOLS[b] for b in piece.encode("utf-8"))
            for piece in _SPLIT.findall(text)]


def train(vocab_size, text=None):
    """Returns (vocab: dict token -> id, merges: list of (left, right)) for the BPE model,
    learned on `text` (default: the built-in corpus)."""
    n_merges = vocab_size - len(SPECIAL_TOKENS) - 256
    if n_merges < 0:
        raise ValueError(f"vocab_size must be >= {256 + len(SPECIAL_TOKENS)}, got {vocab_size}")
    freq = {}
    for piece in pretokenize(corpus() if text is None else text):
        freq[piece] = freq.get(piece, 0) + 1
    words = [[list(w), c] for w, c in sorted(freq.items())]
    vocab = {s: i for i, s in enumerate(BYTE_SYMBOLS)}
    merges = []
    while len(merges) < n_merges:
        counts = {}
        for syms, c in words:
            for a, b in zip(syms, syms[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        counts = {p: c for p, c in counts.items() if p[0] + p[1] not in vocab}
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        merge_pair(words, best)
    _fill_merges(vocab, merges, n_merges)
    return vocab, merges


def merge_pair(table, pair):
    """Joins each adjacent occurrence of `pair` in the symbol list of every entry (entry[0])."""
    merged = pair[0] + pair[1]
    for w in table:
        syms, out, i = w[0], [], 0
        while i < len(syms):
            if i + 1 < len(syms) and syms[i] == pair[0] and syms[i + 1] == pair[1]:
                out.append(merged)
                i += 2
            else:
                out.append(syms[i])
                i += 1
        w[0] = out


def _fill_merges(vocab, merges, n_merges):
    """Extends the merge list past what the corpus supports with letter-token concatenations."""
    letters = [t for t in vocab if t.isalpha() and t.isascii()]
    for left in list(letters):
        for right in letters:
            if len(merges) >= n_merges:
                return
            merged = left + right
            if merged not in vocab:
                merges.append((left, right))
                vocab[merged] = len(vocab)


def build(vocab_size, text=None):
    """The tokenizer.json document as a Python dict."""
    vocab, merges = train(vocab_size, text)
    first_special = vocab_size - len(SPECIAL_TOKENS)
    assert len(vocab) == first_special, (len(vocab), first_special)
    added = [{"id": first_special + i, "content": tok, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, tok in enumerate(SPECIAL_TOKENS)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def special_ids(vocab_size):
    """(bos, eos, pad) ids for a tokenizer of this size."""
    first = vocab_size - len(SPECIAL_TOKENS)
    return first, first + 1, first + 2


def tokenizer_config(vocab_size, model_max_length):
    """tokenizer_config.json for transformers' PreTrainedTokenizerFast."""
    bos, eos, pad = special_ids(vocab_size)
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "pad_token": PAD_TOKEN,
        "add_bos_token": False, "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "added_tokens_decoder": {str(i): {"content": t, "special": True, "normalized": False,
                                          "lstrip": False, "rstrip": False,
                                          "single_word": False}
                                 for i, t in zip((bos, eos, pad), SPECIAL_TOKENS)},
    }


def encode(doc, text):
    """Pure-Python encoder for `doc` (a dict from build()); no special-token parsing."""
    vocab = doc["model"]["vocab"]
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(doc["model"]["merges"])}
    ids = []
    for piece in pretokenize(text):
        syms = list(piece)
        while len(syms) > 1:
            pairs = [(ranks.get((a, b), len(ranks)), i) for i, (a, b) in
                     enumerate(zip(syms, syms[1:]))]
            rank, i = min(pairs)
            if rank == len(ranks):
                break
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        ids.extend(vocab[s] for s in syms)
    return ids


def write(vocab_size, path, text=None):
    doc = build(vocab_size, text)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--out", required=True, help="path of the tokenizer.json to write")
    ap.add_argument("--corpus", help="text to learn the merges on, before the built-in corpus")
    ap.add_argument("--max-length", type=int, help="also write tokenizer_config.json beside it, "
                    "with this model_max_length")
    args = ap.parse_args(argv)
    text = None
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as f:
            text = f.read() + corpus()
    write(args.vocab_size, args.out, text)
    if args.max_length:
        with open(os.path.join(os.path.dirname(os.path.abspath(args.out)), "tokenizer_config.json"), "w") as f:
            json.dump(tokenizer_config(args.vocab_size, args.max_length), f, indent=1)
    bos, eos, pad = special_ids(args.vocab_size)
    print(f"wrote {args.out}: vocab {args.vocab_size}, bos {bos}, eos {eos}, pad {pad}")


if __name__ == "__main__":
    sys.exit(main())
