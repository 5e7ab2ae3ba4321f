"""The export's impressions (<split>.ids.jsonl) as model inputs.

Two layouts of one impression, P prefix tokens and candidate suffixes of S_i tokens:
  packed    one sequence [prefix | suffix_1 | ... | suffix_n]: each suffix attends to the prefix
            and to itself only, its positions continue from the prefix end (P, P+1, ...), as the
            sidecar's multi-item scoring does. P + sum(S_i) tokens.
  separate  one sequence per candidate [prefix | suffix_i], right-padded to a batch.
            n*P + sum(S_i) tokens.
Both give each candidate's answer logits at its suffix's last token, and the same numbers. The
packed layout runs as prefix_and_suffixes: the prefix once and the suffixes as a padded batch behind
it, so attention costs P^2 + n*S*(P+S) rather than the packed sequence's (P + n*S)^2.
"""
import json
import os

import torch


def read_impressions(path):
    """Impressions of one <split>.ids.jsonl file, with candidates that have a suffix."""
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                imp = json.loads(line)
                imp["candidates"] = [c for c in imp["candidates"] if c["suffixIds"]]
                if imp["candidates"]:
                    out.append(imp)
    return out


def load_split(data_dir, split):
    path = os.path.join(data_dir, f"{split}.ids.jsonl")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: export with `npm run export:training -- --out {data_dir}`")
    return read_impressions(path)


def answer_tokens(imp):
    """(label token ids, positive flags) of the task's answers. Single-token labels only: the
    gateway's renormalized score is then a softmax over these tokens' logits."""
    ids = []
    for label in imp["labels"]:
        if len(label["ids"]) != 1:
            raise ValueError(f"label {label['completion']!r} is {len(label['ids'])} tokens; the trainer "
                             "handles single-token labels only")
        ids.append(label["ids"][0])
    return ids, [bool(label["positive"]) for label in imp["labels"]]


def packed(imp, device="cpu"):
    """One sequence holding the prefix and every candidate behind it.

    Returns ids, pos (1, T) int64, allowed (1, T, T) bool, last (n,) index of each suffix's last token.
    """
    prefix = imp["prefixIds"]
    p = len(prefix)
    ids, pos, seg, last = list(prefix), list(range(p)), [0] * p, []
    for i, c in enumerate(imp["candidates"]):
        s = c["suffixIds"]
        ids += s
        pos += range(p, p + len(s))
        seg += [i + 1] * len(s)
        last.append(len(ids) - 1)
    seg_t = torch.tensor(seg, device=device)
    t = len(ids)
    causal = torch.ones(t, t, dtype=torch.bool, device=device).tril()
    same_or_prefix = (seg_t[None, :] == 0) | (seg_t[None, :] == seg_t[:, None])  # (T, T): key s seen by query t
    allowed = causal & same_or_prefix
    return (torch.tensor([ids], device=device), torch.tensor([pos], device=device), allowed[None],
            torch.tensor(last, device=device))


def prefix_and_suffixes(imp, device="cpu"):
    """The packed layout as Decoder.hidden_packed takes it: prefix (P,) ids, suffixes (n, S) ids
    right-padded with 0, and each suffix's length (n,)."""
    suffixes = [c["suffixIds"] for c in imp["candidates"]]
    s = max(len(x) for x in suffixes)
    padded = torch.zeros(len(suffixes), s, dtype=torch.long)
    for i, x in enumerate(suffixes):
        padded[i, :len(x)] = torch.tensor(x)
    return (torch.tensor(imp["prefixIds"], device=device), padded.to(device),
            torch.tensor([len(x) for x in suffixes], device=device))


def separate(imp, device="cpu"):
    """One right-padded sequence per candidate: ids, pos (n, T), allowed (n, T, T), last (n,) as
    flat indices into the (n*T) positions."""
    prefix = imp["prefixIds"]
    seqs = [prefix + c["suffixIds"] for c in imp["candidates"]]
    t = max(len(s) for s in seqs)
    n = len(seqs)
    ids = torch.zeros(n, t, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    pos = torch.arange(t).expand(n, t)
    allowed = torch.ones(t, t, dtype=torch.bool).tril().expand(n, t, t)
    last = torch.tensor([i * t + len(s) - 1 for i, s in enumerate(seqs)])
    return ids.to(device), pos.to(device), allowed.to(device), last.to(device)


def tokens(imp, layout):
    """Tokens one impression puts through the model in `layout`."""
    p = len(imp["prefixIds"])
    suffixes = sum(len(c["suffixIds"]) for c in imp["candidates"])
    return p + suffixes if layout == "packed" else p * len(imp["candidates"]) + suffixes


def targets(imp):
    """(answer index or -1 per candidate, positive flag per candidate)."""
    return ([c["answer"] if c["answer"] is not None else -1 for c in imp["candidates"]],
            [bool(c["positive"]) for c in imp["candidates"]])
