#!/usr/bin/python3
"""Random-weight Hugging Face checkpoints of every architecture the sidecar loads.

Deterministic from --seed. Writes config.json, generation_config.json, model.safetensors
(or shards + model.safetensors.index.json with --shards N), tokenizer.json and
tokenizer_config.json. Weights are drawn with scales that keep activations O(1), so logits
of a tiny model are large enough for a parity test to mean something.

Usage: gen_model.py --arch llama|mistral|qwen2|qwen3|mixtral --preset tiny|100m
                    --dtype f32|bf16|f16|mixed --seed 1 --out DIR

--dtype mixed: torch_dtype bfloat16, tensors stored bf16, f32 and f16 in turn, as checkpoints
saved from mixed-precision code can be (the sidecar converts per tensor, as transformers does).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_tokenizer  # noqa: E402

ARCHS = {
    "llama": ("LlamaForCausalLM", "llama"),
    "mistral": ("MistralForCausalLM", "mistral"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
    "qwen3": ("Qwen3ForCausalLM", "qwen3"),
    "mixtral": ("MixtralForCausalLM", "mixtral"),
}

PRESETS = {
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=None, intermediate=128,
                 vocab=2048, experts=4, experts_per_tok=2, max_pos=4096),
    "100m": dict(hidden=768, layers=12, heads=12, kv_heads=4, head_dim=None, intermediate=2304,
                 vocab=8192, experts=4, experts_per_tok=2, max_pos=4096),
}

ST_DTYPES = {"f32": "F32", "bf16": "BF16", "f16": "F16"}
TORCH_DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16", "mixed": "bfloat16"}
MIXED = ("bf16", "f32", "f16")


def tensor_dtypes(names, dtype):
    """{name: storage dtype}: `dtype` for all, or MIXED in turn for --dtype mixed."""
    return {n: MIXED[i % len(MIXED)] if dtype == "mixed" else dtype for i, n in enumerate(names)}


def config_for(arch, p, dtype, rope_scaling):
    """config.json as transformers writes it for `arch` with preset/overrides `p`."""
    cls, model_type = ARCHS[arch]
    head_dim = p["head_dim"] or p["hidden"] // p["heads"]
    bos, eos, _ = gen_tokenizer.special_ids(p["vocab"])
    cfg = {
        "architectures": [cls], "model_type": model_type,
        "hidden_size": p["hidden"], "intermediate_size": p["intermediate"],
        "num_hidden_layers": p["layers"], "num_attention_heads": p["heads"],
        "num_key_value_heads": p["kv_heads"], "head_dim": head_dim,
        "hidden_act": "silu", "max_position_embeddings": p["max_pos"],
        "rms_norm_eps": 1e-6 if arch.startswith("qwen") else 1e-5,
        "rope_theta": 1000000.0 if arch in ("qwen2", "qwen3", "mixtral") else 10000.0,
        "rope_scaling": None, "vocab_size": p["vocab"],
        "tie_word_embeddings": p["tie"], "bos_token_id": bos, "eos_token_id": eos,
        "torch_dtype": TORCH_DTYPES[dtype], "attention_bias": False,
        # Read by the gateway, which then says plainly that rankings from this model mean nothing.
        "brewgate_random_weights": True,
    }
    if arch == "llama" and rope_scaling:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 64}
    if arch == "mistral":
        cfg["sliding_window"] = None
    if arch in ("qwen2", "qwen3"):
        cfg["use_sliding_window"] = False
        cfg["sliding_window"] = None
    if arch == "mixtral":
        cfg["num_local_experts"] = p["experts"]
        cfg["num_experts_per_tok"] = p["experts_per_tok"]
        cfg["sliding_window"] = None
    return cfg


def weights_for(arch, cfg, rng):
    """Ordered {name: float32 array} with HF tensor names and [out, in] linear layouts."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    v = cfg["vocab_size"]

    def lin(out_dim, in_dim):  # (out_dim, in_dim)
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def norm(n):  # (n,)
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float32)}
    for i in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        w[pre + "input_layernorm.weight"] = norm(h)
        w[pre + "self_attn.q_proj.weight"] = lin(nh * hd, h)
        w[pre + "self_attn.k_proj.weight"] = lin(nkv * hd, h)
        w[pre + "self_attn.v_proj.weight"] = lin(nkv * hd, h)
        if arch == "qwen2":
            w[pre + "self_attn.q_proj.bias"] = (0.1 * rng.standard_normal(nh * hd)).astype(np.float32)
            w[pre + "self_attn.k_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
            w[pre + "self_attn.v_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
        w[pre + "self_attn.o_proj.weight"] = lin(h, nh * hd)
        if arch == "qwen3":
            w[pre + "self_attn.q_norm.weight"] = norm(hd)
            w[pre + "self_attn.k_norm.weight"] = norm(hd)
        w[pre + "post_attention_layernorm.weight"] = norm(h)
        if arch == "mixtral":
            w[pre + "block_sparse_moe.gate.weight"] = lin(cfg["num_local_experts"], h)
            for e in range(cfg["num_local_experts"]):
                ep = f"{pre}block_sparse_moe.experts.{e}."
                w[ep + "w1.weight"] = lin(inter, h)
                w[ep + "w2.weight"] = lin(h, inter)
                w[ep + "w3.weight"] = lin(inter, h)
        else:
            w[pre + "mlp.gate_proj.weight"] = lin(inter, h)
            w[pre + "mlp.up_proj.weight"] = lin(inter, h)
            w[pre + "mlp.down_proj.weight"] = lin(h, inter)
    w["model.norm.weight"] = norm(h)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = lin(v, h)
    return w


def to_dtype(a, dtype):
    """Raw little-endian bytes of float32 array `a` in the checkpoint dtype."""
    if dtype == "f32":
        return a.astype("<f4").tobytes()
    if dtype == "f16":
        return a.astype("<f2").tobytes()
    bits = a.astype("<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return rounded.astype("<u2").tobytes()


def write_safetensors(path, tensors, dtypes):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        raw = to_dtype(a, dtypes[name])
        header[name] = {"dtype": ST_DTYPES[dtypes[name]], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    return off


def generate(arch, preset, dtype, seed, out, shards=1, tie=None, rope_scaling=True, **over):
    p = dict(PRESETS[preset])
    p.update({k: v for k, v in over.items() if v is not None})
    p["tie"] = (arch == "qwen3") if tie is None else tie
    cfg = config_for(arch, p, dtype, rope_scaling)
    rng = np.random.default_rng(seed)
    tensors = weights_for(arch, cfg, rng)
    dtypes = tensor_dtypes(tensors, dtype)
    os.makedirs(out, exist_ok=True)
    if shards <= 1:
        write_safetensors(os.path.join(out, "model.safetensors"), tensors, dtypes)
    else:
        names = list(tensors)
        per = -(-len(names) // shards)
        weight_map, total = {}, 0
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
            total += write_safetensors(os.path.join(out, fname), part, dtypes)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
                   "do_sample": False}, f, indent=1)
    gen_tokenizer.write(cfg["vocab_size"], os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(gen_tokenizer.tokenizer_config(cfg["vocab_size"], cfg["max_position_embeddings"]),
                  f, indent=1)
    return cfg, sum(a.size for a in tensors.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="f32", choices=sorted(TORCH_DTYPES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shards", type=int, default=1, help="write N shards plus an index")
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--head-dim", type=int)
    ap.add_argument("--intermediate", type=int)
    ap.add_argument("--experts", type=int)
    ap.add_argument("--experts-per-tok", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--max-pos", type=int)
    ap.add_argument("--tie", choices=["yes", "no"], help="tie lm_head to embeddings")
    ap.add_argument("--no-rope-scaling", action="store_true",
                    help="llama: plain RoPE instead of llama3 rope_scaling")
    a = ap.parse_args(argv)
    cfg, n = generate(a.arch, a.preset, a.dtype, a.seed, a.out, shards=a.shards,
                      tie=None if a.tie is None else a.tie == "yes",
                      rope_scaling=not a.no_rope_scaling, hidden=a.hidden, layers=a.layers,
                      heads=a.heads, kv_heads=a.kv_heads, head_dim=a.head_dim,
                      intermediate=a.intermediate, experts=a.experts,
                      experts_per_tok=a.experts_per_tok, vocab=a.vocab, max_pos=a.max_pos)
    print(f"wrote {a.out}: {cfg['architectures'][0]} {a.dtype}, {n / 1e6:.2f}M params")


if __name__ == "__main__":
    sys.exit(main())
