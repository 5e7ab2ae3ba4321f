#include "model.h"

#include <cstring>
#include <filesystem>
#include <set>

#include "error.h"
#include "safetensors.h"

namespace bg {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

DType dtype_of_config(ModelConfig& c, const std::string& dir, const Checkpoint& ck) {
  if (c.dtype.empty()) {
    const DType d = ck.get("model.embed_tokens.weight").dtype;
    c.dtype = d == DType::F32 ? "float32" : d == DType::BF16 ? "bfloat16" : "float16";
  }
  if (c.dtype == "float32") return DType::F32;
  if (c.dtype == "bfloat16") return DType::BF16;
  if (c.dtype == "float16") return DType::F16;
  throw Error(dir + "/config.json: torch_dtype: expected float32, bfloat16 or float16, got " +
              c.dtype);
}

class Loader {
 public:
  Loader(const std::string& dir, ModelConfig& cfg) : ck_(dir), dtype_(dtype_of_config(cfg, dir, ck_)) {}

  // fp32 copy of tensor `name`, which must have exactly `shape` and the model's dtype.
  std::vector<float> get(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = ck_.get(name);
    if (t.shape != shape)
      throw Error(t.file + ": tensor '" + name + "' has wrong shape; expected " +
                  shape_str(shape) + ", got " + shape_str(t.shape));
    if (t.dtype != dtype_)
      throw Error(t.file + ": tensor '" + name + "' has wrong dtype; expected " +
                  dtype_name(dtype_) + " (config torch_dtype), got " + dtype_name(t.dtype));
    used_.insert(name);
    num_params_ += t.numel();
    std::vector<float> out(static_cast<size_t>(t.numel()));
    const size_t n = out.size();
    if (t.dtype == DType::F32) {
      std::memcpy(out.data(), t.data, n * 4);
    } else {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(t.data);
      if (t.dtype == DType::BF16)
        for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(src[i]);
      else
        for (size_t i = 0; i < n; ++i) out[i] = f16_to_f32(src[i]);
    }
    t.release();
    return out;
  }

  PackedMatrix linear(const std::string& name, int out, int in) {
    auto w = get(name, {out, in});
    return PackedMatrix::pack(w.data(), out, in);
  }

  // Several linears with the same input, stacked by rows into one GEMM.
  PackedMatrix stacked(const std::vector<std::pair<std::string, int>>& parts, int in) {
    std::vector<float> all;
    int rows = 0;
    for (const auto& [name, out] : parts) {
      auto w = get(name, {out, in});
      all.insert(all.end(), w.begin(), w.end());
      rows += out;
    }
    return PackedMatrix::pack(all.data(), rows, in);
  }

  bool has(const std::string& name) const { return ck_.has(name); }
  int64_t num_params() const { return num_params_; }

  // A tensor the forward pass does not read (an o_proj or MLP bias, say) means the
  // checkpoint computes something this code does not: refuse rather than answer wrongly.
  void check_all_used(bool tied, const std::string& arch) {
    for (const auto& [name, t] : ck_.tensors()) {
      if (used_.count(name)) continue;
      if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // derived
      if (tied && name == "lm_head.weight") continue;  // a copy of the embedding
      throw Error(t.file + ": tensor '" + name + "' is not part of " + arch +
                  " as implemented here; expected no such tensor");
    }
  }

 private:
  Checkpoint ck_;
  DType dtype_;
  std::set<std::string> used_;
  int64_t num_params_ = 0;
};

}  // namespace

Model load_model(const std::string& dir) {
  Model m;
  m.cfg = load_config(dir);
  Loader ld(dir, m.cfg);
  const ModelConfig& c = m.cfg;
  m.name = std::filesystem::path(dir).filename().string();
  if (m.name.empty()) m.name = std::filesystem::path(dir).parent_path().filename().string();
  const int C = c.hidden, F = c.intermediate, H = c.heads, K = c.kv_heads, D = c.head_dim;
  m.embed = ld.get("model.embed_tokens.weight", {c.vocab, C});
  m.layers.resize(c.layers);
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights& w = m.layers[l];
    w.attn_norm = ld.get(p + "input_layernorm.weight", {C});
    w.qkv = ld.stacked({{p + "self_attn.q_proj.weight", H * D},
                        {p + "self_attn.k_proj.weight", K * D},
                        {p + "self_attn.v_proj.weight", K * D}}, C);
    if (c.qkv_bias) {
      for (auto [n, len] : {std::pair{"q", H * D}, {"k", K * D}, {"v", K * D}}) {
        auto b = ld.get(p + "self_attn." + n + "_proj.bias", {len});
        w.qkv_bias.insert(w.qkv_bias.end(), b.begin(), b.end());
      }
    }
    if (c.qk_norm) {
      w.q_norm = ld.get(p + "self_attn.q_norm.weight", {D});
      w.k_norm = ld.get(p + "self_attn.k_norm.weight", {D});
    }
    w.o = ld.linear(p + "self_attn.o_proj.weight", C, H * D);
    w.ffn_norm = ld.get(p + "post_attention_layernorm.weight", {C});
    if (c.experts > 0) {
      const std::string mp = p + "block_sparse_moe.";
      w.router = ld.linear(mp + "gate.weight", c.experts, C);
      for (int e = 0; e < c.experts; ++e) {
        const std::string ep = mp + "experts." + std::to_string(e) + ".";
        w.expert_gate_up.push_back(ld.stacked({{ep + "w1.weight", F}, {ep + "w3.weight", F}}, C));
        w.expert_down.push_back(ld.linear(ep + "w2.weight", C, F));
      }
    } else {
      w.gate_up = ld.stacked({{p + "mlp.gate_proj.weight", F}, {p + "mlp.up_proj.weight", F}}, C);
      w.down = ld.linear(p + "mlp.down_proj.weight", C, F);
    }
  }
  m.final_norm = ld.get("model.norm.weight", {C});
  if (c.tie_embeddings)
    m.lm_head = PackedMatrix::pack(m.embed.data(), c.vocab, C);
  else
    m.lm_head = ld.linear("lm_head.weight", c.vocab, C);
  ld.check_all_used(c.tie_embeddings, c.architecture);
  m.num_params = ld.num_params();
  m.inv_freq = rope_inv_freq(c);
  return m;
}

}  // namespace bg
