"""What the gateway scores, and the loss and metric that train and judge it.

The gateway asks the sidecar for the log-probability of every answer label (" apply", " view",
" dismiss") after each candidate, renormalizes them over the task's answers, and ranks by the
positive answers' mass, P(apply). With single-token labels that renormalized distribution is a
softmax over the label tokens' logits, which is what `answer_logprobs` computes.
"""
import contextlib

import torch
import torch.nn.functional as nnf

from data import answer_tokens, prefix_and_suffixes, separate, targets


def packed_hidden(model, imp, device="cpu", layer_states=None):
    """Hidden states of the packed layout: hp (P, C) of the prefix, hs (n, S, C) of the suffixes
    (padded), and each suffix's length (n,); layer_states as Decoder.hidden_packed takes it."""
    prefix, suffixes, lengths = prefix_and_suffixes(imp, device)
    hp, hs = model.hidden_packed(prefix, suffixes, layer_states)
    return hp, hs, lengths


def last_tokens(hs, lengths):
    """(n, C) of padded suffix states hs (n, S, C): each suffix's last real token."""
    return hs[torch.arange(hs.shape[0], device=hs.device), lengths - 1]


def packed_order(hp, hs, lengths):
    """(T, C): prefix and suffix states as one packed sequence, padding dropped."""
    return torch.cat([hp] + [hs[i, :n] for i, n in enumerate(lengths.tolist())])


def candidate_hidden(model, imp, layout="packed", device="cpu"):
    """(n, C) hidden state at each candidate's last suffix token, the one that predicts the answer."""
    if layout == "packed":
        _, hs, lengths = packed_hidden(model, imp, device)
        return last_tokens(hs, lengths)
    ids, pos, allowed, last = separate(imp, device)
    h = model.hidden(ids, pos, allowed)  # (B, T, C)
    return h.reshape(-1, h.shape[-1])[last]


def answer_logprobs(model, imp, layout="packed", device="cpu"):
    """(n, L) log-probs of the task's answers per candidate, renormalized over the answers."""
    label_ids, _ = answer_tokens(imp)
    h = candidate_hidden(model, imp, layout, device)
    logits = model.label_logits(h, torch.tensor(label_ids, device=device)).float()
    return torch.log_softmax(logits, dim=-1)


def vocab_logprobs(model, imp, device="cpu"):
    """(n, L) log p(label token) over the full vocabulary, what the sidecar's Score (FULL_VOCAB)
    returns for single-token labels."""
    label_ids, _ = answer_tokens(imp)
    logp = torch.log_softmax(model.logits(candidate_hidden(model, imp, "packed", device)).float(), dim=-1)
    return logp[:, label_ids]


def answer_loss(logp, imp):
    """Mean over candidates of -log P(the member's answer), P renormalized over the answers.

    A candidate the member did nothing with (or took an action the task has no answer for) has
    no answer to imitate, but it is not a positive: its target is "any non-positive answer",
    -log(1 - P(positive)), a binary cross-entropy on the mass the gateway ranks by. So it pushes
    P(apply) down without claiming whether the member would have viewed or dismissed it.
    """
    _, positive = answer_tokens(imp)
    answer, _ = targets(imp)
    neg = torch.tensor([not p for p in positive], device=logp.device)
    idx = torch.tensor([max(a, 0) for a in answer], device=logp.device)
    has = torch.tensor([a >= 0 for a in answer], device=logp.device)
    nll_answer = -logp.gather(1, idx[:, None])[:, 0]
    nll_negative = -torch.logsumexp(logp.masked_fill(~neg, float("-inf")), dim=-1)
    return torch.where(has, nll_answer, nll_negative).mean()


def lm_targets(imp, device="cpu"):
    """(T,) next-token targets of the packed sequence, -1 where there is none: each token of the
    prefix predicts the next prefix token and each suffix token the next token of its own suffix
    (the prefix's last token has ten continuations, a suffix's last one predicts the answer)."""
    out = list(imp["prefixIds"][1:]) + [-1]
    for c in imp["candidates"]:
        out += list(c["suffixIds"][1:]) + [-1]
    return torch.tensor(out, device=device)


def backward_impression(model, imp, layout="packed", scale=1.0, device="cpu", autocast=contextlib.nullcontext,
                        lm_weight=0.0, occurrence=None):
    """Backpropagates scale * answer_loss of one impression; returns the loss's value.

    packed: one sequence. separate: one prompt per candidate, each its own forward and backward
    (so memory stays that of one prompt), weighted so the gradient is that of the same mean.
    `autocast` makes the context the forward passes run in (bf16 on CUDA).
    lm_weight > 0 (packed only) adds that weight of the language-modelling loss on the prompt's own
    tokens (lm_targets): a denser signal than ten answers per impression, which teaches a model
    trained from scratch to copy and match what the prompt repeats (a job's company and title,
    skills of the profile in a job) before the answers can. `occurrence` (packed only), a pair
    (weight, fn), adds weight * fn(states, hs, lengths, imp): the occurrence loss of
    occurrence.py, from the suffixes' states after every layer and the final ones. The returned
    value is the answer loss.
    """
    if lm_weight or occurrence:
        if layout != "packed":
            raise ValueError("lm_weight and occurrence need the packed layout")
        with autocast():
            states = []
            hp, hs, lengths = packed_hidden(model, imp, device, states)
            last = last_tokens(hs, lengths)
            label_ids, _ = answer_tokens(imp)
            logp = torch.log_softmax(model.label_logits(last, torch.tensor(label_ids, device=device)).float(), -1)
            answer = answer_loss(logp, imp)
            total = answer
            if lm_weight:
                h = packed_order(hp, hs, lengths)
                lm = nnf.cross_entropy(model.logits(h).float(), lm_targets(imp, device), ignore_index=-1)
                total = total + lm_weight * lm
            if occurrence:
                weight, fn = occurrence
                total = total + weight * fn(states, hs, lengths, imp)
        (total * scale).backward()
        return answer.item() * scale
    parts = [imp] if layout == "packed" else [dict(imp, candidates=[c]) for c in imp["candidates"]]
    total = 0.0
    for part in parts:
        weight = scale * len(part["candidates"]) / len(imp["candidates"])
        with autocast():
            loss = answer_loss(answer_logprobs(model, part, "packed", device), part) * weight
        loss.backward()
        total += loss.item()
    return total


def positive_mass(logp, imp):
    """(n,) P(positive answers) per candidate: the gateway's ranking score."""
    _, positive = answer_tokens(imp)
    pos = torch.tensor(positive, device=logp.device)
    return logp.exp().masked_fill(~pos, 0.0).sum(-1)


def auc(scores, labels):
    """ROC AUC of `scores` against boolean `labels` (Mann-Whitney, ties count half); None when one
    class is missing."""
    pairs = sorted(zip(scores, labels), key=lambda x: x[0])
    n_pos = sum(1 for _, y in pairs if y)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        rank_sum += avg_rank * sum(1 for _, y in pairs[i:j] if y)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
