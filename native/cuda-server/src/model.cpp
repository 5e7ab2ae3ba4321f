#include "model.h"

#include <filesystem>
#include <set>

#include "error.h"
#include "fingerprint.h"
#include "safetensors.h"
#include "sha256.h"

namespace bg {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// config.json's name for a dtype the weights are stored in.
const char* torch_name(DType d) {
  return d == DType::F32 ? "float32" : d == DType::BF16 ? "bfloat16" : "float16";
}

class Loader {
 public:
  explicit Loader(const std::string& dir) : ck_(std::make_shared<const Checkpoint>(dir)) {}

  // Tensor `name` as stored, which must have exactly `shape` and a dtype the backends can
  // convert. The dtype need not be config.json's torch_dtype, nor the same for every tensor:
  // torch_dtype says what the model was saved as, and transformers converts per tensor on
  // load just the same.
  TensorView get(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = ck_->get(name);
    if (t.shape != shape)
      throw Error(t.file + ": tensor '" + name + "' has wrong shape; expected " +
                  shape_str(shape) + ", got " + shape_str(t.shape));
    if (!dtype_readable(t.dtype))
      throw Error(t.file + ": tensor '" + name + "' has a dtype the sidecar cannot read; "
                  "expected one of " + kReadableDtypes + ", got " + dtype_name(t.dtype));
    used_.insert(name);
    num_params_ += t.numel();
    stored_.insert(t.dtype);
    return t;
  }

  int64_t num_params() const { return num_params_; }
  std::vector<DType> stored() const { return {stored_.begin(), stored_.end()}; }
  std::shared_ptr<const Checkpoint> checkpoint() const { return ck_; }

  // A tensor the forward pass does not read (an o_proj or MLP bias, say) means the
  // checkpoint computes something this code does not: refuse rather than answer wrongly.
  void check_all_used(bool tied, const std::string& arch) {
    for (const auto& [name, t] : ck_->tensors()) {
      if (used_.count(name)) continue;
      if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // derived
      if (tied && name == "lm_head.weight") continue;  // a copy of the embedding
      throw Error(t.file + ": tensor '" + name + "' (" + dtype_name(t.dtype) + " " +
                  shape_str(t.shape) + ") is not part of " + arch +
                  " as implemented here; expected no such tensor");
    }
  }

 private:
  std::shared_ptr<const Checkpoint> ck_;
  std::set<std::string> used_;
  std::set<DType> stored_;
  int64_t num_params_ = 0;
};

}  // namespace

Model load_model(const std::string& dir) {
  Model m;
  m.cfg = load_config(dir);
  Loader ld(dir);
  ModelConfig& c = m.cfg;
  m.name = std::filesystem::path(dir).filename().string();
  if (m.name.empty()) m.name = std::filesystem::path(dir).parent_path().filename().string();
  const int C = c.hidden, F = c.intermediate, H = c.heads, K = c.kv_heads, D = c.head_dim;
  m.embed = ld.get("model.embed_tokens.weight", {c.vocab, C});
  if (c.dtype.empty()) c.dtype = torch_name(m.embed.dtype);
  m.layers.resize(c.layers);
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerTensors& w = m.layers[l];
    w.attn_norm = ld.get(p + "input_layernorm.weight", {C});
    w.q = ld.get(p + "self_attn.q_proj.weight", {H * D, C});
    w.k = ld.get(p + "self_attn.k_proj.weight", {K * D, C});
    w.v = ld.get(p + "self_attn.v_proj.weight", {K * D, C});
    if (c.qkv_bias) {
      w.q_bias = ld.get(p + "self_attn.q_proj.bias", {H * D});
      w.k_bias = ld.get(p + "self_attn.k_proj.bias", {K * D});
      w.v_bias = ld.get(p + "self_attn.v_proj.bias", {K * D});
    }
    if (c.qk_norm) {
      w.q_norm = ld.get(p + "self_attn.q_norm.weight", {D});
      w.k_norm = ld.get(p + "self_attn.k_norm.weight", {D});
    }
    w.o = ld.get(p + "self_attn.o_proj.weight", {C, H * D});
    w.ffn_norm = ld.get(p + "post_attention_layernorm.weight", {C});
    if (c.experts > 0) {
      const std::string mp = p + "block_sparse_moe.";
      w.router = ld.get(mp + "gate.weight", {c.experts, C});
      for (int e = 0; e < c.experts; ++e) {
        const std::string ep = mp + "experts." + std::to_string(e) + ".";
        w.expert_gate.push_back(ld.get(ep + "w1.weight", {F, C}));
        w.expert_up.push_back(ld.get(ep + "w3.weight", {F, C}));
        w.expert_down.push_back(ld.get(ep + "w2.weight", {C, F}));
      }
    } else {
      w.gate = ld.get(p + "mlp.gate_proj.weight", {F, C});
      w.up = ld.get(p + "mlp.up_proj.weight", {F, C});
      w.down = ld.get(p + "mlp.down_proj.weight", {C, F});
    }
  }
  m.final_norm = ld.get("model.norm.weight", {C});
  m.lm_head = c.tie_embeddings ? m.embed : ld.get("lm_head.weight", {c.vocab, C});
  ld.check_all_used(c.tie_embeddings, c.architecture);
  m.num_params = ld.num_params();
  m.stored = ld.stored();
  m.inv_freq = rope_inv_freq(c);
  m.checkpoint = ld.checkpoint();
  const std::filesystem::path d(dir);
  m.sha256 = model_sha256((d / "config.json").string(), *m.checkpoint);
  if (std::filesystem::exists(d / "tokenizer.json"))
    m.tokenizer_sha256 = sha256_file((d / "tokenizer.json").string());
  return m;
}

std::string stored_dtypes(const Model& m) {
  std::string s;
  for (DType d : m.stored) {
    if (!s.empty()) s += '+';
    s += dtype_name(d);
  }
  return s;
}

}  // namespace bg
