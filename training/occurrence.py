"""Occurrence targets: a dense, self-supervised signal that teaches a model from scratch to compare
a candidate with the prompt before it.

Ranking here needs a candidate's words matched against the profile's and the history's: is the
job's city the member's, did the member apply to jobs at this company before. A pretrained LLM
brings such copy-and-compare heads along; a model trained from scratch on ten answers per
impression has to grow them from a signal far weaker than the matching it needs (README,
"Training the demo model"). So the trainer can add, beside the answer loss, a question every
suffix token answers for itself: for each kind of prompt line (the profile, each history group
such as "Member has applied to the following jobs", the instruction), does this token's word
occur in that line of this prompt? The targets come from the prompt's own tokens, nothing else:
no label, no field name, no rule. Words compare without case, so " Software" in a job matches
" software" in a profile.

A line's kind is its first KEY_TOKENS token ids; the trainer keeps the most frequent kinds of its
training data (`line_kinds`). Besides each token's answers, the answer position predicts the
share of the candidate's own words found in each kind. Both are predicted by linear heads
(OccurrenceHead) that the checkpoint does not keep: only what they taught the layers stays.
"""
import json
import os
from collections import Counter

import torch
import torch.nn as nn
import torch.nn.functional as nnf

KEY_TOKENS = 3


def fold_case(tokenizer_json):
    """id -> id of the same token with ASCII letters lower-cased when the vocabulary has it."""
    with open(tokenizer_json) as f:
        tok = json.load(f)
    vocab = dict(tok["model"]["vocab"])
    for t in tok.get("added_tokens", []):
        vocab.setdefault(t["content"], t["id"])
    folded = {}
    for s, i in vocab.items():
        low = "".join(c.lower() if "A" <= c <= "Z" else c for c in s)
        folded[i] = vocab.get(low, i)
    newline = {i for s, i in vocab.items() if "\u010a" in s or "\n" in s or s == "<0x0A>"}
    return folded, newline


class Vocabulary:
    """Case folding and line breaks of one tokenizer."""

    def __init__(self, tokenizer_dir):
        self.folded, self.newline = fold_case(os.path.join(tokenizer_dir, "tokenizer.json"))

    def lines(self, ids):
        """The prefix's lines as lists of ids, line breaks dropped."""
        out, cur = [], []
        for t in ids:
            if t in self.newline:
                if cur:
                    out.append(cur)
                cur = []
            else:
                cur.append(t)
        if cur:
            out.append(cur)
        return out


def line_kinds(imps, vocab, limit=12):
    """The `limit` most frequent line kinds (first KEY_TOKENS ids) of the impressions' prefixes,
    in a fixed order."""
    counts = Counter()
    for imp in imps:
        for line in vocab.lines(imp["prefixIds"]):
            counts[tuple(line[:KEY_TOKENS])] += 1
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def occurrence_targets(imp, vocab, kinds, length):
    """Targets of one impression, cached on it:
    tokens (n, length, K): 1 where the suffix token's folded word occurs in a prefix line of kind k;
    own (n, length): 1 at the candidate's own words, those not in every candidate's suffix (so not
    the question's wording, whose targets are the same for every candidate and teach nothing);
    summary (n, K): of the candidate's own words, the share that occurs in a line of kind k."""
    key = ("_occ", length)
    if key in imp:
        return imp[key]
    index = {k: i for i, k in enumerate(kinds)}
    words = [set() for _ in kinds]
    for line in vocab.lines(imp["prefixIds"]):
        k = index.get(tuple(line[:KEY_TOKENS]))
        if k is not None:
            words[k].update(vocab.folded.get(t, t) for t in line)
    n = len(imp["candidates"])
    folded = [[vocab.folded.get(t, t) for t in c["suffixIds"]] for c in imp["candidates"]]
    common = set.intersection(*(set(f) for f in folded)) if n > 1 else set()
    tokens = torch.zeros(n, length, len(kinds))
    own = torch.zeros(n, length)
    for i, f in enumerate(folded):
        for j, w in enumerate(f):
            tokens[i, j] = torch.tensor([w in ws for ws in words], dtype=torch.float32)
            own[i, j] = float(w not in common)
    summary = (tokens * own[..., None]).sum(1) / own.sum(1).clamp(min=1)[:, None]
    imp[key] = (tokens, own, summary)
    return imp[key]


class OccurrenceHead(nn.Module):
    """Two linear heads the checkpoint does not keep: one reads each suffix token's residual
    stream after layer `tap` (RMS-normalized) and predicts its occurrence targets, early enough
    that the layers after it can gather them at the answer position; the other reads the final
    state at the answer position and predicts the candidate's summary."""

    def __init__(self, hidden, kinds, tap):
        super().__init__()
        self.tap = tap
        self.tokens = nn.Linear(hidden, kinds)
        self.summary = nn.Linear(hidden, kinds)
        self.seen = []

    def loss(self, states, hs, lengths, targets):
        """Mean binary cross-entropy over the candidates' own words plus that of the summaries.
        states: the suffixes' residual stream after each layer; hs (n, S, C) final states."""
        tokens, own, summary = (t.to(hs.device) for t in targets)
        x = states[self.tap].float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
        bce = nnf.binary_cross_entropy_with_logits(self.tokens(x), tokens, reduction="none").mean(-1)
        last = hs[torch.arange(hs.shape[0], device=hs.device), lengths - 1].float()
        token_loss = (bce * own).sum() / own.sum().clamp(min=1)
        summary_loss = nnf.binary_cross_entropy_with_logits(self.summary(last), summary)
        floor = nnf.binary_cross_entropy(summary, summary)  # the targets' own entropy: the least it can be
        self.seen.append((token_loss.item(), summary_loss.item() - floor.item()))
        return token_loss + summary_loss

    def drain(self):
        """Mean token loss and summary loss above its floor since the last call (for the log)."""
        seen, self.seen = self.seen, []
        return [sum(x[i] for x in seen) / max(1, len(seen)) for i in range(2)]
