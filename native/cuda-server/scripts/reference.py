#!/usr/bin/python3
"""Independent NumPy forward pass (float64) of the decoder architectures the sidecar serves.

Written from the Hugging Face modeling code's definitions, not from the C++ source, so the
parity test compares two implementations. Dimension letters: T tokens, C hidden, V vocab,
H query heads, K kv heads, D head_dim, F intermediate, E experts.

With --weights int8 it simulates the CPU backend's int8 weights (Q8_0: blocks of 32 along K
with one scale each; activations quantized the same way before every linear layer but the
MoE router, whose weights also stay unquantized), from the format's definition.

Usage: reference.py --model DIR --ids 1,2,3 [--out logits.f32] [--weights f32|int8]
  writes float32 logits (T, V) row-major to --out, or prints the last row's argmax.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """{name: float64 array} decoded from one .safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[base + b:base + e]
        if t["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif t["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2")
        elif t["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view("<f4")
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {t['dtype']}")
        out[name] = a.astype(np.float64).reshape(t["shape"])
    return out


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    w = {}
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for fn in files:
        w.update(read_safetensors(os.path.join(model_dir, fn)))
    return cfg, w


def rms_norm(x, g, eps):  # x (..., N), g (N,)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def inv_freq(cfg, d):
    """(D/2,) RoPE inverse frequencies, with Llama 3 / linear rope_scaling applied."""
    base = cfg.get("rope_theta", 10000.0)
    f = 1.0 / base ** (np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        f = f / rs["factor"]
    elif kind == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        scaled = np.where(wavelen > old / lo, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) & ~(wavelen > old / lo)
        f = np.where(medium, smoothed, scaled)
    elif kind != "default":
        raise ValueError(f"rope_type {kind} not supported by the reference")
    return f


def rope(x, pos, f):  # x (T, n, D), pos (T,), f (D/2,)
    ang = pos[:, None] * f[None, :]  # (T, D/2)
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[:, None, :]
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def silu(x):
    return x / (1 + np.exp(-x))


def q8(a):
    """Q8_0 round trip along the last axis (blocks of 32): per block d = max|a| / 127 and
    q = round-half-even(a / d) in [-127, 127], computed in float32 as the format is defined;
    returns q * d in float64."""
    b = np.asarray(a, np.float32).reshape(*np.shape(a)[:-1], -1, 32)
    d = np.abs(b).max(axis=-1, keepdims=True) / np.float32(127)
    inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, np.float32(1)), np.float32(0))
    q = np.clip(np.rint(b * inv.astype(np.float32)), -127, 127)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(np.shape(a))


def bf16(a):
    """Round to bf16 (nearest even) through float32, as the sidecar rounds activations with
    --activations bf16; returns float64."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def quantize_weights(w):
    """The checkpoint as int8 weights hold it: every linear layer, the embedding and lm_head
    through q8; norms, biases and the MoE router (block_sparse_moe.gate) as they are."""
    out = {}
    for name, a in w.items():
        linear = a.ndim == 2 and not name.endswith("block_sparse_moe.gate.weight")
        out[name] = q8(a) if linear else a
    return out


def forward(cfg, w, ids, quant=False, bf16_act=False):
    """(T, V) logits for token ids `ids` at positions 0..T-1. quant: `w` went through
    quantize_weights, and each linear layer's input is quantized too (int8 simulation).
    bf16_act: each linear layer's input is rounded to bf16 (the MoE router's is not)."""
    if quant:
        mm = lambda x, m: q8(x) @ m.T  # noqa: E731
    elif bf16_act:
        mm = lambda x, m: bf16(x) @ m.T  # noqa: E731
    else:
        mm = lambda x, m: x @ m.T  # noqa: E731
    arch = cfg["architectures"][0]
    c = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or c // nh
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    pos = np.arange(t, dtype=np.float64)
    f = inv_freq(cfg, d)
    x = w["model.embed_tokens.weight"][np.asarray(ids)]  # (T, C)
    mask = np.triu(np.full((t, t), -np.inf), 1)  # (T, T)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = mm(h, w[p + "self_attn.q_proj.weight"])  # (T, H*D)
        k = mm(h, w[p + "self_attn.k_proj.weight"])  # (T, K*D)
        v = mm(h, w[p + "self_attn.v_proj.weight"])  # (T, K*D)
        if p + "self_attn.q_proj.bias" in w:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(t, nh, d), k.reshape(t, nkv, d), v.reshape(t, nkv, d)
        if arch == "Qwen3ForCausalLM":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q, pos, f), rope(k, pos, f)
        rep = nh // nkv
        att = np.empty((t, nh, d))
        for hh in range(nh):
            s = q[:, hh, :] @ k[:, hh // rep, :].T / math.sqrt(d) + mask  # (T, T)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            att[:, hh, :] = s @ v[:, hh // rep, :]
        x = x + mm(att.reshape(t, nh * d), w[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        if arch == "MixtralForCausalLM":
            x = x + moe(cfg, w, p + "block_sparse_moe.", h, mm)
        else:
            g = mm(h, w[p + "mlp.gate_proj.weight"])
            u = mm(h, w[p + "mlp.up_proj.weight"])
            x = x + mm(silu(g) * u, w[p + "mlp.down_proj.weight"])
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return mm(x, head)


def moe(cfg, w, p, h, mm=lambda x, m: x @ m.T):
    """Mixtral sparse MoE: softmax over router logits, top-k, renormalize, weighted sum."""
    k = cfg["num_experts_per_tok"]
    logits = h @ w[p + "gate.weight"].T  # (T, E)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.zeros_like(h)
    for ti in range(h.shape[0]):
        top = np.argsort(-probs[ti], kind="stable")[:k]
        wts = probs[ti, top] / probs[ti, top].sum()
        for e, we in zip(top, wts):
            ep = f"{p}experts.{e}."
            g = mm(h[ti], w[ep + "w1.weight"])
            u = mm(h[ti], w[ep + "w3.weight"])
            out[ti] += we * mm(silu(g) * u, w[ep + "w2.weight"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="write float32 (T, V) logits here")
    ap.add_argument("--weights", default="f32", choices=["f32", "int8"])
    a = ap.parse_args(argv)
    cfg, w = load(a.model)
    quant = a.weights == "int8"
    if quant:
        w = quantize_weights(w)
    ids = [int(s) for s in a.ids.split(",")]
    logits = forward(cfg, w, ids, quant)
    if a.out:
        logits.astype("<f4").tofile(a.out)
    else:
        print(int(np.argmax(logits[-1])))


if __name__ == "__main__":
    sys.exit(main())
