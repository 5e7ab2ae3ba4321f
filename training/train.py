#!/usr/bin/python3
"""Trains a 360Brew-style ranker on the gateway's training export.

  python3 training/train.py --data .data/training/job_apply[,DIR...] --out DIR --steps N [--init DIR]

Reads <data>/train.ids.jsonl and validation.ids.jsonl (`npm run export:training` writes them:
token ids exactly as the gateway sends them to the sidecar); several exports (one per task) train
one model on all their impressions, shuffled together, and validation reports each task's AUC.
Trains a decoder from scratch (--preset demo or small) or fine-tunes the checkpoint in --init, with the loss on
the answer tokens only (objective.py), every impression's candidates packed behind one prefix with
the sidecar's item-aware mask (--layout separate: one prompt per candidate, for comparison).
Prints progress (step, loss, tokens/s, ETA), evaluates validation AUC of P(apply) every
--eval-every steps, and writes a Hugging Face checkpoint the sidecar loads (config.json,
model.safetensors, tokenizer files) plus training.json (the run's arguments and log).
Seeded: the same arguments on the same machine and thread count repeat the same run.
"""
import argparse
import json
import math
import os
import random
import resource
import sys
import time

import torch

# The tree stays clean: no __pycache__ beside the sources.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_split, tokens  # noqa: E402
from model import Decoder, load_checkpoint, save_checkpoint  # noqa: E402
from occurrence import OccurrenceHead, Vocabulary, line_kinds, occurrence_targets  # noqa: E402
from objective import answer_logprobs, answer_loss, auc, backward_impression, positive_mass  # noqa: E402

# Shapes for training from scratch; the vocabulary and special ids come from the tokenizer.
PRESETS = {
    "demo": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                 intermediate_size=768),
    "small": dict(hidden_size=192, num_hidden_layers=3, num_attention_heads=3, num_key_value_heads=1,
                  intermediate_size=512),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128),
}


def scratch_config(preset, tokenizer_dir, max_positions, rope_theta=10000.0):
    """A llama config.json for `preset` whose vocabulary and special ids are the tokenizer's."""
    with open(os.path.join(tokenizer_dir, "tokenizer.json")) as f:
        tok = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    base = {}
    if os.path.exists(os.path.join(tokenizer_dir, "config.json")):
        with open(os.path.join(tokenizer_dir, "config.json")) as f:
            base = json.load(f)
    special = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    tcfg = {}
    if os.path.exists(os.path.join(tokenizer_dir, "tokenizer_config.json")):
        with open(os.path.join(tokenizer_dir, "tokenizer_config.json")) as f:
            tcfg = json.load(f)

    def special_id(name):
        tok_name = tcfg.get(name)
        tok_name = tok_name.get("content") if isinstance(tok_name, dict) else tok_name
        return special.get(tok_name, base.get(f"{name}_id"))

    p = PRESETS[preset]
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        **p, "head_dim": p["hidden_size"] // p["num_attention_heads"], "hidden_act": "silu",
        "max_position_embeddings": max_positions, "rms_norm_eps": 1e-5, "rope_theta": rope_theta,
        "rope_scaling": None, "vocab_size": max(base.get("vocab_size", 0), max(ids) + 1),
        "tie_word_embeddings": False, "bos_token_id": special_id("bos_token"),
        "eos_token_id": special_id("eos_token"), "torch_dtype": "float32", "attention_bias": False,
    }


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", required=True,
                    help="the export's directory (<split>.ids.jsonl, manifest.json); several: comma-separated")
    ap.add_argument("--out", required=True, help="where to write the checkpoint")
    ap.add_argument("--steps", type=int, required=True, help="optimizer steps")
    ap.add_argument("--init", help="fine-tune this checkpoint directory (default: from scratch)")
    ap.add_argument("--preset", default="demo", choices=sorted(PRESETS), help="shape from scratch (default demo)")
    ap.add_argument("--tokenizer-dir", help="from scratch: directory of tokenizer.json (default: the export's)")
    ap.add_argument("--max-positions", type=int, default=4096, help="from scratch: max_position_embeddings")
    ap.add_argument("--rope-theta", type=float, default=10000.0,
                    help="from scratch: RoPE base (default 10000; larger keeps more of each head's dimensions "
                    "slow enough to match a token with one hundreds of positions back)")
    ap.add_argument("--batch", type=int, default=4, help="impressions per step (default 4)")
    ap.add_argument("--lr", type=float, help="peak learning rate (default 1e-3 from scratch, 1e-4 fine-tuning)")
    ap.add_argument("--warmup", type=int, help="warm-up steps (default steps/20)")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--layout", default="packed", choices=["packed", "separate"],
                    help="candidates behind one prefix (packed, as served) or one prompt each")
    ap.add_argument("--lm-weight", type=float, default=0.0,
                    help="weight of the language-modelling loss on the prompt tokens (packed; default 0: answers only)")
    ap.add_argument("--occurrence-weight", type=float, default=0.0,
                    help="weight of the occurrence loss (occurrence.py; packed; default 0: answers only)")
    ap.add_argument("--eval-every", type=int, default=50, help="validation every N steps (0: only at the end)")
    ap.add_argument("--log-every", type=int, default=1)
    ap.add_argument("--limit", type=int, help="use at most N train and N validation impressions of each export")
    ap.add_argument("--val-limit", type=int, help="validate on at most N impressions of each export")
    ap.add_argument("--describe", help="what the model is, in words: config.json's brewgate_description, "
                    "which the gateway prints when it serves the model")
    ap.add_argument("--prefix-tokens", type=int,
                    help="the prompt prefix budget the exports were cut to: config.json's brewgate_prefix_tokens, "
                    "which the gateway then serves the model with (at most)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all)")
    ap.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    return ap.parse_args(argv)


def evaluate(model, imps, device, autocast):
    """Validation loss over `imps` and, per task, the AUC of P(positive answer) against the
    positive outcome over every candidate (the ranking score the gateway uses)."""
    model.eval()
    by_task, losses = {}, []
    with torch.no_grad(), autocast():
        for imp in imps:
            logp = answer_logprobs(model, imp, "packed", device)
            losses.append(answer_loss(logp, imp).item())
            scores, labels = by_task.setdefault(imp["task"], ([], []))
            scores += positive_mass(logp, imp).tolist()
            labels += [bool(c["positive"]) for c in imp["candidates"]]
    model.train()
    return sum(losses) / max(len(losses), 1), {t: auc(s, y) for t, (s, y) in by_task.items()}


def load_exports(dirs, limit, val_limit):
    """Train and validation impressions of every export in `dirs`, each tagged with its task."""
    train, val = [], []
    for d in dirs:
        with open(os.path.join(d, "manifest.json")) as f:
            task = json.load(f)["task"]
        t, v = load_split(d, "train"), load_split(d, "validation")
        if limit:
            t, v = t[:limit], v[:limit]
        if val_limit:
            v = v[:val_limit]
        for imp in t + v:
            imp["task"] = task
        if not t:
            raise SystemExit(f"{d}: no train impressions")
        train += t
        val += v
    return train, val


def fmt_aucs(aucs):
    return ", ".join(f"{t} {'n/a' if v is None else round(v, 4)}" for t, v in aucs.items()) or "n/a"


def main(argv=None):
    a = parse(argv)
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    device = "cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device)

    def autocast():
        if device == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    data_dirs = [d for d in a.data.split(",") if d]
    train, val = load_exports(data_dirs, a.limit, a.val_limit)

    if a.init:
        cfg, model = load_checkpoint(a.init)
        tokenizer_dir = a.init
        source = f"fine-tuned from {a.init}"
    else:
        tokenizer_dir = a.tokenizer_dir
        if tokenizer_dir is None:
            with open(os.path.join(data_dirs[0], "manifest.json")) as f:
                tokenizer_dir = os.path.dirname(json.load(f)["tokenizer"])
        cfg = scratch_config(a.preset, tokenizer_dir, a.max_positions, a.rope_theta)
        model = Decoder(cfg)
        model.init_weights(a.seed)
        source = f"from scratch, preset {a.preset}"
    occurrence, aux_params, head = None, [], None
    if a.occurrence_weight:
        vocab = Vocabulary(tokenizer_dir)
        kinds = line_kinds(train, vocab)
        head = OccurrenceHead(cfg["hidden_size"], len(kinds), max(0, cfg["num_hidden_layers"] - 2)).to(device)
        aux_params = list(head.parameters())
        print(f"occurrence targets: {len(kinds)} kinds of prompt line, weight {a.occurrence_weight}", flush=True)

        def occurrence_loss(states, hs, lengths, imp):
            return head.loss(states, hs, lengths, occurrence_targets(imp, vocab, kinds, hs.shape[1]))
        occurrence = (a.occurrence_weight, occurrence_loss)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    lr = a.lr or (1e-4 if a.init else 1e-3)
    warmup = a.warmup if a.warmup is not None else max(1, a.steps // 20)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay + aux_params, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))

    def lr_at(step):  # linear warm-up, cosine to 10%
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, a.steps - warmup)
        return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))

    epoch_tokens = {k: sum(tokens(i, k) for i in train) for k in ("packed", "separate")}
    print(f"train: {len(train)} impressions, {sum(len(i['candidates']) for i in train)} candidates; "
          f"validation: {len(val)} impressions", flush=True)
    print(f"tokens per epoch: packed {epoch_tokens['packed']:,}, separate {epoch_tokens['separate']:,} "
          f"({epoch_tokens['separate'] / epoch_tokens['packed']:.2f}x); layout {a.layout}", flush=True)
    print(f"model: {cfg['architectures'][0]} {n_params / 1e6:.2f}M params, {source}; device {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')}; lr {lr}, batch {a.batch}, "
          f"steps {a.steps}", flush=True)

    order_rng = random.Random(a.seed)
    order, cursor, epoch = [], 0, 0
    log = []
    val_loss, val_auc = evaluate(model, val, device, autocast) if val else (None, {})
    print(f"step {0:5d} | val loss {val_loss if val_loss is None else round(val_loss, 4)} | "
          f"val AUC {fmt_aucs(val_auc)}", flush=True)
    log.append({"step": 0, "val_loss": val_loss, "val_auc": val_auc})
    model.train()
    seen_tokens, t_start, eval_s = 0, time.time(), 0.0
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss_sum, step_tokens = 0.0, 0
        for _ in range(a.batch):
            if cursor == len(order):
                order = list(range(len(train)))
                order_rng.shuffle(order)
                cursor, epoch = 0, epoch + 1
            imp = train[order[cursor]]
            cursor += 1
            loss_sum += backward_impression(model, imp, a.layout, 1.0 / a.batch, device, autocast, a.lm_weight,
                                            occurrence)
            step_tokens += tokens(imp, a.layout)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen_tokens += step_tokens
        elapsed = time.time() - t_start - eval_s
        done = step + 1
        if done % a.log_every == 0 or done == a.steps:
            eta = elapsed / done * (a.steps - done)
            occ = " | occurrence tokens {:.4f} summary +{:.4f}".format(*head.drain()) if head else ""
            print(f"step {done:5d}/{a.steps} | epoch {epoch} | loss {loss_sum:.4f}{occ} | grad norm {float(norm):.3f} | "
                  f"lr {lr_at(step):.2e} | {seen_tokens / elapsed:,.0f} tokens/s | training {elapsed:.0f}s | "
                  f"ETA {eta:.0f}s", flush=True)
        log.append({"step": done, "loss": loss_sum, "tokens": seen_tokens, "elapsed_s": round(elapsed, 2)})
        if val and ((a.eval_every and done % a.eval_every == 0) or done == a.steps):
            t_eval = time.time()
            val_loss, val_auc = evaluate(model, val, device, autocast)
            eval_s += time.time() - t_eval
            print(f"step {done:5d} | val loss {val_loss:.4f} | val AUC {fmt_aucs(val_auc)} | "
                  f"{time.time() - t_eval:.0f}s", flush=True)
            log.append({"step": done, "val_loss": val_loss, "val_auc": val_auc})

    model.to("cpu")
    extra = {"brewgate_training": {
        "source": source, "tasks": sorted({i["task"] for i in train}), "steps": a.steps, "seed": a.seed,
        "val_auc": val_auc}}
    if a.describe:
        extra["brewgate_description"] = a.describe
    if a.prefix_tokens:
        extra["brewgate_prefix_tokens"] = a.prefix_tokens
    save_checkpoint(model, a.out, tokenizer_dir, extra)
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump({"args": vars(a), "config": cfg, "epoch_tokens": epoch_tokens, "log": log}, f, indent=1)
    print(f"wrote {a.out} ({n_params / 1e6:.2f}M params, {seen_tokens:,} tokens in {time.time() - t_start:.0f}s, "
          f"{eval_s:.0f}s of it validation; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB)",
          flush=True)


if __name__ == "__main__":
    main()
