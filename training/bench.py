#!/usr/bin/python3
"""Training throughput of both layouts on the same impressions: candidates packed behind one
prefix (as served) against one prompt per candidate.

  python3 training/bench.py --data .data/training/job_apply [--impressions 4] [--preset demo]

Times forward + backward (the loss of train.py, no optimizer step) of the same train impressions
in each layout, alternating, and prints tokens/s, seconds per impression and what an epoch of the
export would take in each.
"""
import argparse
import json
import os
import random
import sys
import time

import torch

# The tree stays clean: no __pycache__ beside the sources.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_split, tokens  # noqa: E402
from model import Decoder  # noqa: E402
from objective import backward_impression  # noqa: E402
from train import PRESETS, scratch_config  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--impressions", type=int, default=4)
    ap.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(a.seed)
    train = load_split(a.data, "train")
    with open(os.path.join(a.data, "manifest.json")) as f:
        tokenizer_dir = os.path.dirname(json.load(f)["tokenizer"])
    model = Decoder(scratch_config(a.preset, tokenizer_dir, 4096))
    model.init_weights(a.seed)
    imps = random.Random(a.seed).sample(train, min(a.impressions, len(train)))
    backward_impression(model, imps[0], "packed")  # warm-up
    spent = {"packed": 0.0, "separate": 0.0}
    for imp in imps:
        for layout in spent:
            model.zero_grad(set_to_none=True)
            t = time.time()
            backward_impression(model, imp, layout)
            spent[layout] += time.time() - t
    print(f"{a.preset} preset, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')}, {len(imps)} impressions of "
          f"{sum(len(i['candidates']) for i in imps)} candidates, prefix {sum(len(i['prefixIds']) for i in imps) / len(imps):.0f} tokens on average")
    result = {}
    for layout, s in spent.items():
        n_tok = sum(tokens(i, layout) for i in imps)
        epoch = sum(tokens(i, layout) for i in train)
        rate = n_tok / s
        result[layout] = {"tokens": n_tok, "seconds": round(s, 2), "tokens_per_s": round(rate),
                          "epoch_tokens": epoch, "epoch_s": round(epoch * s / n_tok)}
        print(f"{layout:9s} {n_tok:8,} tokens in {s:7.1f}s: {rate:7,.0f} tokens/s, {s / len(imps):6.1f}s per "
              f"impression; an epoch ({len(train)} impressions, {epoch:,} tokens) takes about "
              f"{epoch * s / n_tok / 60:.0f} min")
    print(f"packed is {spent['separate'] / spent['packed']:.1f}x faster per impression")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
