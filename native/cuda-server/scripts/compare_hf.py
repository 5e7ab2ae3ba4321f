#!/usr/bin/python3
"""Logits of the C++ backends against Hugging Face transformers (float32, eager attention).

Needs torch + transformers, which the GPU machine has; elsewhere it prints
"skipped: transformers not importable" and exits 0.

Usage: compare_hf.py --bin BUILD_DIR [--models DIR] [--model DIR ...] [--tol 1e-3]
                     [--backend cpu|cuda] [--json FILE]
  --backend cuda needs a BREWGATE_CUDA=ON build. Its bf16 rounding moves single logits by up
  to ~1 where Mixtral's top-2 routing flips on a near tie (scripts/bf16_sim.py), so for it
  pass --nmse-tol (normalized MSE of all logits; bf16 alone gives <= 2.5e-5 on dense models)
  instead of --tol; MoE models get --nmse-tol-moe (bf16 alone: up to 1.8e-3).
  Without --model, generates tiny f32 checkpoints of every architecture into --models.
  --json writes {"backend", "skipped", "models": {name: {"max_dlogit", "nmse", "ok"}}}.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="build dir holding brewgate-logits")
    ap.add_argument("--models", default=os.path.join(HERE, "..", "build", "models"))
    ap.add_argument("--model", action="append", default=[], help="checkpoint dir (repeatable)")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--nmse-tol", type=float, help="check normalized MSE instead of max |dlogit|")
    ap.add_argument("--nmse-tol-moe", type=float, default=1e-2, help="--nmse-tol for MoE models")
    ap.add_argument("--json", help="write the deltas here as JSON")
    a = ap.parse_args()
    report = {"backend": a.backend, "skipped": None, "models": {}}

    def write_report():
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f)

    try:
        import numpy as np
        import torch
        from transformers import AutoModelForCausalLM
    except Exception as e:  # noqa: BLE001 - any import failure means "cannot compare here"
        report["skipped"] = f"transformers not importable ({type(e).__name__}: {e})"
        write_report()
        print(f"skipped: {report['skipped']}")
        return 0
    sys.path.insert(0, HERE)
    import gen_model

    dirs = list(a.model)
    if not dirs:
        for arch, extra in (("llama", {}), ("mistral", {}), ("qwen2", {}),
                            ("qwen3", {"head_dim": 32}), ("mixtral", {})):
            d = os.path.join(a.models, f"hf-{arch}")
            gen_model.generate(arch, "tiny", "f32", seed=11, out=d, **extra)
            dirs.append(d)
    ids = [(i * 37 + 11) % 2045 for i in range(100)]
    failed = False
    for d in dirs:
        model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
        model.eval()
        n_ids = [i % model.config.vocab_size for i in ids]
        with torch.no_grad():
            ref = model(torch.tensor([n_ids])).logits[0].double().numpy()
        out = os.path.join(d, "logits-cpp.f32")
        subprocess.run([os.path.join(a.bin, "brewgate-logits"), "--model", d, "--ids",
                        ",".join(map(str, n_ids)), "--out", out, "--backend", a.backend], check=True)
        got = np.fromfile(out, "<f4").reshape(ref.shape)
        diff = float(np.max(np.abs(got - ref)))
        nmse = float(np.sum((got - ref) ** 2) / np.sum(ref ** 2))
        moe = getattr(model.config, "num_local_experts", 0) > 0
        ok = (nmse <= (a.nmse_tol_moe if moe else a.nmse_tol) if a.nmse_tol is not None
              else diff <= a.tol)
        failed |= not ok
        report["models"][os.path.basename(d)] = {"max_dlogit": diff, "nmse": nmse, "ok": ok}
        write_report()
        print(f"hf {a.backend} {os.path.basename(d):24s} max|dlogit| = {diff:.3e} nmse = {nmse:.2e} "
              f"{'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
