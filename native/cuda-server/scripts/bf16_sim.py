#!/usr/bin/python3
"""How far bf16 rounding alone moves logits: the NumPy reference forward (reference.py) with
weights and activations rounded to bf16 where the CUDA backend rounds them (linear weights,
normed inputs, q/k after RoPE, v, attention output, SwiGLU output), residual stream kept wide.
Calibrates the tolerances of tests/cuda/test_cuda_model.cpp without a GPU.

Usage: bf16_sim.py [--models DIR]   (the tiny models scripts/test.sh generates)
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference as R  # noqa: E402


def bf16(x):
    """Round to nearest even bf16, returned as float64."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32).astype(np.float64)


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def simulate(model_dir, ids):
    cfg, w = R.load(model_dir)
    ref = R.forward(cfg, w, ids)
    wb = {k: (bf16(v) if k.endswith("weight") and "norm" not in k else v) for k, v in w.items()}
    rms, rope, silu = R.rms_norm, R.rope, R.silu
    # (T, C) norms feed GEMMs in bf16; per-head q/k norms stay wide until RoPE rounds them.
    R.rms_norm = lambda x, g, eps: bf16(rms(x, g, eps)) if x.ndim == 2 else rms(x, g, eps)
    R.rope = lambda x, pos, f: bf16(rope(x, pos, f))
    try:
        got = R.forward(cfg, wb, ids)
    finally:
        R.rms_norm, R.rope, R.silu = rms, rope, silu
    dl = np.abs(log_softmax(got) - log_softmax(ref))
    nmse = float(((got - ref) ** 2).sum() / (ref ** 2).sum())
    return nmse, float(dl.mean()), float(dl.max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(HERE, "..", "build", "models"))
    a = ap.parse_args()
    ids = [(13 + i * 7) % 2000 for i in range(70)]
    for arch in ("llama", "mistral", "qwen2", "qwen3", "mixtral"):
        nmse, mean, mx = simulate(os.path.join(a.models, f"tiny-{arch}"), ids)
        print(f"bf16 {arch:8s} nmse {nmse:.2e}  mean|dlogprob| {mean:.4f}  max|dlogprob| {mx:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
