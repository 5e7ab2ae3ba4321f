#!/usr/bin/python3
"""End-to-end logits parity: the C++ CPU backend against reference.py on tiny f32 models.

For every architecture (plus sharded, bf16, f16 and mixed-dtype variants), generates a tiny checkpoint,
computes logits for a fixed token sequence with the NumPy reference and with brewgate-logits
(whole-prompt prefill, token-by-token decode through the paged KV cache, and the scalar
kernels), and prints the max |difference|. Exits 1 if any exceeds the tolerance.

Usage: parity.py --bin BUILD_DIR --models DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_model  # noqa: E402
import reference  # noqa: E402

# (name, arch, dtype, extra generator args, tolerance). 16-bit checkpoints are compared with
# the same tolerance: both sides decode the same 16-bit values to fp32/fp64 before computing.
CASES = [
    ("llama", "llama", "f32", {}, 1e-3),
    ("llama-plain-rope", "llama", "f32", {"rope_scaling": False}, 1e-3),
    ("mistral", "mistral", "f32", {}, 1e-3),
    ("qwen2", "qwen2", "f32", {}, 1e-3),
    ("qwen3", "qwen3", "f32", {"head_dim": 32}, 1e-3),
    ("mixtral", "mixtral", "f32", {}, 1e-3),
    ("llama-sharded-tied", "llama", "f32", {"shards": 3, "tie": True}, 1e-3),
    ("qwen2-bf16", "qwen2", "bf16", {}, 1e-3),
    ("mixtral-f16", "mixtral", "f16", {}, 1e-3),
    # torch_dtype bfloat16 with tensors stored bf16, f32 and f16 in turn, across shards.
    ("qwen2-mixed-sharded", "qwen2", "mixed", {"shards": 2}, 1e-3),
    # head_dim 64 with GQA 3:1 (the 100m preset's attention shape), and head_dim 24, which is
    # not a multiple of the 16-wide attention panels.
    ("llama-d64-gqa3", "llama", "f32", {"hidden": 384, "heads": 6, "kv_heads": 2,
                                        "intermediate": 256}, 1e-3),
    ("mistral-d24", "mistral", "f32", {"hidden": 96, "heads": 4, "kv_heads": 4}, 1e-3),
]

# 100 positions: long enough to pass the llama3 scaling's original context (64) in the tiny
# preset and to span several 16-token KV blocks.
IDS = [(i * 37 + 11) % 2045 for i in range(100)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    a = ap.parse_args()
    worst = 0.0
    failed = []
    for name, arch, dtype, extra, tol in CASES:
        d = os.path.join(a.models, "parity-" + name)
        gen_model.generate(arch, "tiny", dtype, seed=7, out=d, **extra)
        cfg, w = reference.load(d)
        ref = reference.forward(cfg, w, IDS)
        for mode, flags in (("prefill", []), ("decode", ["--step", "1"]),
                            ("chunk7-scalar", ["--step", "7", "--scalar"])):
            out = os.path.join(d, f"logits-{mode}.f32")
            subprocess.run([os.path.join(a.bin, "brewgate-logits"), "--model", d, "--ids",
                            ",".join(map(str, IDS)), "--out", out, "--threads", "2"] + flags,
                           check=True)
            got = np.fromfile(out, "<f4").reshape(ref.shape)
            diff = float(np.max(np.abs(got - ref)))
            worst = max(worst, diff)
            ok = diff <= tol
            print(f"parity {name:20s} {mode:14s} max|dlogit| = {diff:.3e} "
                  f"(logit scale {np.max(np.abs(ref)):.2f}) {'ok' if ok else 'FAIL'}")
            if not ok:
                failed.append(f"{name}/{mode}")
    print(f"parity worst max|dlogit| = {worst:.3e}")
    if failed:
        print("parity FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
