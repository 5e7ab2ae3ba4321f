#!/usr/bin/python3
"""End-to-end logits parity: the C++ CPU backend against reference.py on tiny f32 models.

For every architecture (plus sharded, bf16, f16 and mixed-dtype variants), generates a tiny checkpoint,
computes logits for a fixed token sequence with the NumPy reference and with brewgate-logits
(whole-prompt prefill, token-by-token decode through the paged KV cache, and the scalar
kernels), and prints the max |difference|. Exits 1 if any exceeds the tolerance.

Then the CPU backend's other weight types (--weights): bf16 weights on bf16 checkpoints against
the same reference and tolerance (the values are the checkpoint's), and with bf16 activations
against a NumPy simulation rounding each linear layer's input; int8 weights against
reference.py's Q8_0 simulation and, for accuracy, against the fp32 reference, reporting max and
mean |dlogprob| within INT8_BOUND; and int8 refused, naming the tensor, where K % 32 != 0.

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

# bf16 weights on bf16 checkpoints: (name, arch, extra generator args); tolerance 1e-3.
BF16_CASES = [
    ("llama-bf16", "llama", {}),
    ("qwen2-bf16", "qwen2", {}),
    ("qwen3-bf16", "qwen3", {"head_dim": 32}),
    ("mixtral-bf16", "mixtral", {}),
]
# int8 weights on the f32 checkpoints of CASES (by name).
INT8_CASES = ["llama", "mistral", "qwen2", "qwen3", "mixtral", "llama-sharded-tied",
              "llama-d64-gqa3", "mistral-d24"]
# int8 bounds, as fractions of the largest |logit| of the fp32 reference (quantization error is
# relative): against the NumPy Q8_0 simulation, max |dlogit|, and mean |dlogit| as a fraction
# of the simulation's own mean distance from fp32 (the two differ only where an activation
# sits within float rounding of a code boundary, but such a flip early on moves every later
# logit by up to ~1% of the scale: measured up to 0.37 of the simulation's distance from
# fp32 in chaotic tiny models, ~1e-5 without a flip; a wrong scale or block gives ~1 or more.
# A Mixtral route can flip on it too);
# against fp32, mean and max |dlogprob| (Q8_0 rounds to within 0.4% of a block's maximum; the
# max leaves room for Mixtral's top-2 routing flipping on a near tie).
INT8_SIM_TOL = {"mean_vs_quantization": 0.5, "max": 0.05}
# bf16 activations (--activations bf16 on the bf16 checkpoints of BF16_CASES): against the NumPy
# simulation that rounds each linear layer's input to bf16, max |dlogit| as a fraction of the
# logit scale (the two differ by summation order, and where an activation sits within float
# rounding of a bf16 boundary); against fp32 activations, |dlogprob| as in test_cpu_weights.
BF16_ACT_SIM_TOL = 0.01
BF16_ACT_BOUND = {"mean": 0.003, "max": 0.05}
INT8_BOUND = {"mean": 0.005, "max": 0.25}

# 100 positions: long enough to pass the llama3 scaling's original context (64) in the tiny
# preset and to span several 16-token KV blocks.
IDS = [(i * 37 + 11) % 2045 for i in range(100)]


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


MODES = (("prefill", []), ("decode", ["--step", "1"]), ("chunk7-scalar", ["--step", "7", "--scalar"]))


def dlogprob(got, ref_lp):
    """(mean, max) |log-softmax(got) - ref_lp| over all positions and tokens."""
    d = np.abs(log_softmax(got.astype(np.float64)) - ref_lp)
    return float(d.mean()), float(d.max())


def run_logits(bin_dir, d, mode, flags, shape, weights="f32", activations="f32"):
    out = os.path.join(d, f"logits-{weights}-{activations}-{mode}.f32")
    subprocess.run([os.path.join(bin_dir, "brewgate-logits"), "--model", d, "--ids",
                    ",".join(map(str, IDS)), "--out", out, "--threads", "2",
                    "--weights", weights, "--activations", activations] + flags, check=True)
    return np.fromfile(out, "<f4").reshape(shape)


def weight_types(a, failed):
    """bf16, f16 and int8 weights; appends failures to `failed`."""
    # bf16 weights on bf16 checkpoints, f16 weights on f16 checkpoints (the same architectures).
    for dtype in ("bf16", "f16"):
        for name, arch, extra in BF16_CASES:
            name = name.replace("bf16", dtype)
            d = os.path.join(a.models, "parity-" + name + ("-w" if dtype == "f16" else ""))
            gen_model.generate(arch, "tiny", dtype, seed=7, out=d, **extra)
            cfg, w = reference.load(d)
            ref = reference.forward(cfg, w, IDS)
            for mode, flags in MODES:
                got = run_logits(a.bin, d, mode, flags, ref.shape, dtype)
                diff = float(np.max(np.abs(got - ref)))
                ok = diff <= 1e-3
                print(f"parity {name + ' ' + dtype + 'w':20s} {mode:14s} max|dlogit| = {diff:.3e} "
                      f"(logit scale {np.max(np.abs(ref)):.2f}) {'ok' if ok else 'FAIL'}")
                if not ok:
                    failed.append(f"{name}/{dtype}/{mode}")
    # bf16 activations on the bf16 checkpoints just written.
    for name, arch, extra in BF16_CASES:
        d = os.path.join(a.models, "parity-" + name)
        cfg, w = reference.load(d)
        ref = reference.forward(cfg, w, IDS)
        sim = reference.forward(cfg, w, IDS, bf16_act=True)
        scale = float(np.max(np.abs(ref)))
        ref_lp = log_softmax(ref)
        for mode, flags in MODES:
            got = run_logits(a.bin, d, mode, flags, ref.shape, "bf16", "bf16")
            dsim = float(np.max(np.abs(got - sim)))
            mean, mx = dlogprob(got, ref_lp)
            ok = (dsim <= BF16_ACT_SIM_TOL * scale and mean <= BF16_ACT_BOUND["mean"] * scale
                  and mx <= BF16_ACT_BOUND["max"] * scale)
            print(f"parity {name + ' bf16 act':20s} {mode:14s} |dlogit| vs bf16-activation sim max "
                  f"{dsim:.1e}; |dlogprob| vs f32 activations max {mx:.3f} mean {mean:.4f} "
                  f"(logit scale {scale:.2f}) {'ok' if ok else 'FAIL'}")
            if not ok:
                failed.append(f"{name}/bf16-act/{mode}")
    worst = {"mean": 0.0, "max": 0.0}
    for name in INT8_CASES:
        d = os.path.join(a.models, "parity-" + name)  # generated by the f32 cases
        cfg, w = reference.load(d)
        ref = reference.forward(cfg, w, IDS)
        sim = reference.forward(cfg, reference.quantize_weights(w), IDS, quant=True)
        scale = float(np.max(np.abs(ref)))
        quant_mean = float(np.mean(np.abs(sim - ref)))  # what Q8_0 itself moves a logit
        ref_lp = log_softmax(ref)
        for mode, flags in MODES:
            got = run_logits(a.bin, d, mode, flags, ref.shape, "int8")
            dsim = float(np.max(np.abs(got - sim)))
            dsim_mean = float(np.mean(np.abs(got - sim)))
            mean, mx = dlogprob(got, ref_lp)
            worst["mean"] = max(worst["mean"], mean / scale)
            worst["max"] = max(worst["max"], mx / scale)
            ok = (dsim <= INT8_SIM_TOL["max"] * scale
                  and dsim_mean <= INT8_SIM_TOL["mean_vs_quantization"] * quant_mean and mean <= INT8_BOUND["mean"] * scale
                  and mx <= INT8_BOUND["max"] * scale)
            print(f"parity {name + ' int8':20s} {mode:14s} |dlogit| vs Q8_0 sim max {dsim:.1e} mean {dsim_mean:.1e} (Q8_0 itself {quant_mean:.1e}); "
                  f"|dlogprob| vs f32 max {mx:.3f} mean {mean:.4f} (logit scale {scale:.2f}) "
                  f"{'ok' if ok else 'FAIL'}")
            if not ok:
                failed.append(f"{name}/int8/{mode}")
    print(f"parity int8 worst |dlogprob| / logit scale: mean {worst['mean']:.4f} "
          f"(bound {INT8_BOUND['mean']}), max {worst['max']:.4f} (bound {INT8_BOUND['max']})")
    # K = 48: int8 has no whole blocks of 32; the load must say which tensor and why.
    d = os.path.join(a.models, "parity-int8-k48")
    gen_model.generate("llama", "tiny", "f32", seed=7, out=d, hidden=48, heads=4, kv_heads=2)
    p = subprocess.run([os.path.join(a.bin, "brewgate-logits"), "--model", d, "--ids", "1,2",
                        "--out", os.path.join(d, "x.f32"), "--weights", "int8"],
                       capture_output=True, text=True)
    ok = p.returncode == 1 and "tensor 'model." in p.stderr and "multiple of 32" in p.stderr \
        and "got 48" in p.stderr
    print(f"parity int8 refuses K=48: exit {p.returncode}, {p.stderr.strip()!r} {'ok' if ok else 'FAIL'}")
    if not ok:
        failed.append("int8-k48")


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
    weight_types(a, failed)
    if failed:
        print("parity FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
