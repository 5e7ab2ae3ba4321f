#!/usr/bin/python3
"""Label log-probabilities of a checkpoint as the sidecar's Score (FULL_VOCAB) returns them.

  python3 training/score.py --model DIR < request.json

request.json: {"prefixIds": [...], "candidates": [{"suffixIds": [...]}, ...],
               "labels": [{"ids": [id]}, ...]}  (single-token labels)
Prints {"labelLogprobs": [[one per label] per candidate]}, computed with every candidate packed
behind the prefix under the item-aware mask, as training computes them. The parity test compares
these with the sidecar's.
"""
import argparse
import json
import os
import sys

import torch

# The tree stays clean: no __pycache__ beside the sources.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import load_checkpoint  # noqa: E402
from objective import vocab_logprobs  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count())
    req = json.load(sys.stdin)
    req.setdefault("labels", [])
    for label in req["labels"]:
        label.setdefault("positive", False)
    _, model = load_checkpoint(a.model)
    model.eval()
    with torch.no_grad():
        logp = vocab_logprobs(model, req)
    json.dump({"labelLogprobs": logp.double().tolist()}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
