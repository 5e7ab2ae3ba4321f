"""The decoder architectures the sidecar serves, in PyTorch, with Hugging Face tensor names.

LlamaForCausalLM (RoPE with optional llama3 / linear rope_scaling, RMSNorm, SwiGLU, GQA, tied or
untied embeddings), and the same stack with Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm and
Mistral's names. Mixtral's MoE is not here. Attention takes an explicit mask, so one sequence can
hold a shared prefix and many candidates that see only the prefix and themselves (the sidecar's
multi-item scoring). Runs with Debian's torch 1.13 on CPU and with a current torch on CUDA: no
scaled_dot_product_attention, no torch.compile.

Dimension letters: B batch, T tokens, C hidden, V vocab, H query heads, K kv heads, D head_dim,
F intermediate.
"""
import json
import math
import os
import shutil
import struct

import sys

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import nn

# The sidecar's own Python tooling: its NumPy reference's RoPE frequencies (so training and the
# parity reference cannot drift apart) and its checkpoint writer.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "cuda-server", "scripts"))
from gen_model import write_safetensors  # noqa: E402
from reference import inv_freq  # noqa: E402

# Queries per block of attention: bounds the score matrix and skips keys after the block.
QUERY_BLOCK = 512

ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
}


def check_config(cfg):
    arch = (cfg.get("architectures") or ["?"])[0]
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch} is not trainable here; expected one of {sorted(ARCHITECTURES)}")
    if cfg.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {cfg['hidden_act']} not supported; expected silu")
    if cfg.get("sliding_window") and cfg.get("use_sliding_window", True):
        raise ValueError("sliding-window attention is not supported by the trainer")
    return arch


def rotate_half(x):  # x (..., D)
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):  # x (..., n)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        c, self.nh, self.nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.d = cfg.get("head_dim") or c // self.nh
        bias = arch == "qwen2" or bool(cfg.get("attention_bias"))
        self.q_proj = nn.Linear(c, self.nh * self.d, bias=bias)
        self.k_proj = nn.Linear(c, self.nkv * self.d, bias=bias)
        self.v_proj = nn.Linear(c, self.nkv * self.d, bias=bias)
        self.o_proj = nn.Linear(self.nh * self.d, c, bias=bool(cfg.get("attention_bias")) and arch != "qwen2")
        if arch == "qwen3":
            self.q_norm = RMSNorm(self.d, cfg["rms_norm_eps"])
            self.k_norm = RMSNorm(self.d, cfg["rms_norm_eps"])
        else:
            self.q_norm = self.k_norm = None

    def qkv(self, x, cos, sin):
        """x (B, T, C) -> q, k, v (B, H, T, D): rotated, k and v repeated to the query heads, q scaled."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.d)
        k = self.k_proj(x).view(b, t, self.nkv, self.d)
        v = self.v_proj(x).view(b, t, self.nkv, self.d)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H|K, T, D)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        return q * (1.0 / math.sqrt(self.d)), k, v

    def out(self, y):  # y (B, H, T, D) -> (B, T, C)
        b, _, t, _ = y.shape
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.nh * self.d))

    @staticmethod
    def attend(q, k, v, bias):
        """softmax(q k^T + bias) v in blocks of queries. Every mask here allows only keys at or before
        the query, so a block of queries needs only the keys up to its end: about half the (T, T)
        work of a full score matrix."""
        t = q.shape[2]
        ys = []
        for t0 in range(0, t, QUERY_BLOCK):
            t1 = min(t, t0 + QUERY_BLOCK)
            s = q[:, :, t0:t1] @ k[:, :, :t1].transpose(-1, -2) + bias[..., t0:t1, :t1]  # (B, H, t1-t0, t1)
            ys.append(torch.softmax(s.float(), dim=-1).to(v.dtype) @ v[:, :, :t1])  # (B, H, t1-t0, D)
        return torch.cat(ys, dim=2)  # (B, H, T, D)

    def forward(self, x, cos, sin, bias):
        # x (B, T, C); cos, sin (B, 1, T, D); bias (B, 1, T, T) additive, -inf where not allowed
        return self.out(self.attend(*self.qkv(x, cos, sin), bias))

    def forward_packed(self, xp, xs, rope_p, rope_s, bias_p, bias_s):
        """A shared prefix and n candidates behind it, each seeing the prefix and itself only.

        xp (1, P, C) the prefix; xs (n, S, C) the candidates' suffixes, right-padded to S; rope_p,
        rope_s their (cos, sin) at positions 0..P-1 and P..P+S-1; bias_p (1, 1, P, P) causal,
        bias_s (1, 1, S, S) causal. The same numbers as forward() on the packed sequence with its
        item-aware mask, without computing the (T, T) scores that mask throws away: P^2 + n*S*(P+S)
        instead of (P + n*S)^2.
        """
        qp, kp, vp = self.qkv(xp, *rope_p)  # (1, H, P, D)
        qs, ks, vs = self.qkv(xs, *rope_s)  # (n, H, S, D)
        yp = self.attend(qp, kp, vp, bias_p)
        n, h, s, d = qs.shape
        p = kp.shape[2]
        # Against the prefix every candidate's queries form one (H, n*S, D) batch: one matmul with
        # the prefix's keys, no copy of them per candidate.
        q_flat = qs.transpose(0, 1).reshape(1, h, n * s, d)
        s_pre = (q_flat @ kp.transpose(-1, -2)).view(h, n, s, p).transpose(0, 1)  # (n, H, S, P)
        scores = torch.cat([s_pre, qs @ ks.transpose(-1, -2) + bias_s], dim=-1)  # (n, H, S, P+S)
        a = torch.softmax(scores.float(), dim=-1).to(vs.dtype)
        a_pre = a[..., :p].transpose(0, 1).reshape(1, h, n * s, p)
        ys = (a_pre @ vp).view(h, n, s, d).transpose(0, 1) + a[..., p:] @ vs  # (n, H, S, D)
        return self.out(yp), self.out(ys)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(c, f, bias=False)
        self.up_proj = nn.Linear(c, f, bias=False)
        self.down_proj = nn.Linear(f, c, bias=False)

    def forward(self, x):
        return self.down_proj(nnf.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg, arch)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, bias):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, bias)
        return x + self.mlp(self.post_attention_layernorm(x))

    def forward_packed(self, xp, xs, rope_p, rope_s, bias_p, bias_s):
        ap, as_ = self.self_attn.forward_packed(self.input_layernorm(xp), self.input_layernorm(xs), rope_p, rope_s,
                                                bias_p, bias_s)
        xp, xs = xp + ap, xs + as_
        return xp + self.mlp(self.post_attention_layernorm(xp)), xs + self.mlp(self.post_attention_layernorm(xs))


class Body(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg, arch) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Decoder(nn.Module):
    """state_dict() names are the Hugging Face checkpoint's (model.layers.0.self_attn.q_proj.weight...)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.arch = ARCHITECTURES[check_config(cfg)]
        self.model = Body(cfg, self.arch)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        self.lm_head = None if self.tied else nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        d = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        self.register_buffer("inv_freq", torch.tensor(inv_freq(cfg, d)), persistent=False)  # (D/2,) f64

    def head_weight(self):  # (V, C)
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def rope(self, pos, dtype):
        """(cos, sin), each (B, 1, T, D), of positions pos (B, T)."""
        ang = pos.to(torch.float64)[..., None] * self.inv_freq  # (B, T, D/2)
        ang = torch.cat([ang, ang], dim=-1)[:, None]  # (B, 1, T, D)
        return ang.cos().to(dtype), ang.sin().to(dtype)

    @staticmethod
    def mask_bias(allowed, dtype):
        """(B, 1, T, T) additive bias of a (B, T, T) bool mask: 0 where allowed, -inf elsewhere."""
        bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
        return bias.masked_fill(~allowed, float("-inf"))[:, None]

    def hidden(self, ids, pos, allowed):
        """(B, T, C) final-normed hidden states. ids, pos (B, T) int64; allowed (B, T, T) bool:
        query t may attend to key s, only ever for s <= t (causal, or narrower)."""
        x = self.model.embed_tokens(ids)
        cos, sin = self.rope(pos, x.dtype)
        bias = self.mask_bias(allowed, x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin, bias)
        return self.model.norm(x)

    def hidden_packed(self, prefix, suffixes, layer_states=None):
        """Final-normed hidden states of a shared prefix and candidates behind it (the sidecar's
        multi-item scoring: each candidate sees the prefix and itself, at positions after the
        prefix), computed without the packed sequence's (T, T) mask: prefix (P,) int64 ids,
        suffixes (n, S) int64 ids right-padded (what the padding holds never reaches a real token).
        Returns hp (P, C) and hs (n, S, C). A list given as layer_states gets the suffixes'
        residual stream (n, S, C) after each layer, before the final norm."""
        p, s = prefix.shape[0], suffixes.shape[1]
        dev = prefix.device
        xp, xs = self.model.embed_tokens(prefix[None]), self.model.embed_tokens(suffixes)
        rope_p = self.rope(torch.arange(p, device=dev)[None], xp.dtype)
        rope_s = self.rope(torch.arange(p, p + s, device=dev)[None], xp.dtype)
        bias_p = self.mask_bias(torch.ones(p, p, dtype=torch.bool, device=dev).tril()[None], xp.dtype)
        bias_s = self.mask_bias(torch.ones(s, s, dtype=torch.bool, device=dev).tril()[None], xp.dtype)
        for layer in self.model.layers:
            xp, xs = layer.forward_packed(xp, xs, rope_p, rope_s, bias_p, bias_s)
            if layer_states is not None:
                layer_states.append(xs)
        return self.model.norm(xp)[0], self.model.norm(xs)

    def label_logits(self, h, label_ids):
        """(N, L) logits of the label tokens only, from hidden states h (N, C): the rows of lm_head
        that the answers need, never the whole vocabulary."""
        return h @ self.head_weight()[label_ids].t()

    def logits(self, h):  # h (..., C) -> (..., V)
        return h @ self.head_weight().t()

    def init_weights(self, seed):
        """From-scratch initialization (GPT-2 style: N(0, 0.02), residual outputs scaled by depth)."""
        g = torch.Generator().manual_seed(seed)
        std = 0.02
        resid = std / math.sqrt(2 * self.cfg["num_hidden_layers"])
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("norm.weight"):
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                else:
                    s = resid if name.endswith(("o_proj.weight", "down_proj.weight")) else std
                    p.copy_(torch.randn(p.shape, generator=g) * s)


# ---------------------------------------------------------------------------------------------
# Checkpoints: config.json + safetensors (read and written without the safetensors package)

ST_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "bf16"}


def read_safetensors(path):
    """{name: float32 tensor} from one .safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        if not 8 + n + e <= len(data):
            raise ValueError(f"{path}: tensor {name} ends at {8 + n + e}, past the file's {len(data)} bytes")
        raw = data[8 + n + b:8 + n + e]
        kind = ST_DTYPES.get(t["dtype"])
        if kind is None:
            raise ValueError(f"{path}: tensor {name}: dtype {t['dtype']} not supported; expected F32, F16 or BF16")
        if kind == "bf16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view("<f4")
        else:
            a = np.frombuffer(raw, kind).astype(np.float32)
        out[name] = torch.from_numpy(a.reshape(t["shape"]).copy())
    return out


def load_checkpoint(model_dir):
    """(cfg, Decoder) from a Hugging Face checkpoint directory (one file or shards + index)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for fn in files:
        weights.update(read_safetensors(os.path.join(model_dir, fn)))
    model = Decoder(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ValueError(f"{model_dir}: tensors missing {missing[:5]}, unexpected {extra[:5]}")
    for name, t in weights.items():
        if tuple(t.shape) != tuple(expected[name].shape):
            raise ValueError(f"{model_dir}: tensor '{name}' has shape {list(t.shape)}, expected {list(expected[name].shape)}")
    model.load_state_dict(weights)
    return cfg, model


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def save_checkpoint(model, out, tokenizer_dir, extra_config=None):
    """Writes config.json, generation_config.json, model.safetensors and the tokenizer files."""
    os.makedirs(out, exist_ok=True)
    cfg = {k: v for k, v in model.cfg.items() if k != "brewgate_random_weights"}
    cfg["torch_dtype"] = "float32"
    cfg.update(extra_config or {})
    state = {name: t.detach().to("cpu", torch.float32).contiguous().numpy() for name, t in model.state_dict().items()}
    write_safetensors(os.path.join(out, "model.safetensors"), state, {name: "f32" for name in state})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg.get("bos_token_id"), "eos_token_id": cfg.get("eos_token_id"),
                   "do_sample": False}, f, indent=1)
    for name in TOKENIZER_FILES:
        src = os.path.join(tokenizer_dir, name)
        if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(os.path.join(out, name)):
            shutil.copyfile(src, os.path.join(out, name))
