#include "config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "error.h"

namespace bg {

using nlohmann::json;

namespace {

int req_int(const json& j, const std::string& file, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<long>() <= 0)
    throw Error(file + ": expected a positive integer \"" + key + "\", got " +
                (j.contains(key) ? j[key].dump() : std::string("none")));
  return j[key].get<int>();
}

}  // namespace

ModelConfig load_config(const std::string& dir) {
  const std::string file = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(file);
  if (!in) throw Error(file + ": cannot open");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw Error(file + ": not valid JSON: " + e.what());
  }
  ModelConfig c;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty())
    throw Error(file + ": expected \"architectures\": [name], got none");
  c.architecture = j["architectures"][0].get<std::string>();
  if (c.architecture == "LlamaForCausalLM") c.arch = Arch::Llama;
  else if (c.architecture == "MistralForCausalLM") c.arch = Arch::Mistral;
  else if (c.architecture == "Qwen2ForCausalLM") c.arch = Arch::Qwen2;
  else if (c.architecture == "Qwen3ForCausalLM") c.arch = Arch::Qwen3;
  else if (c.architecture == "MixtralForCausalLM") c.arch = Arch::Mixtral;
  else
    throw Error(file + ": unknown architecture; expected one of LlamaForCausalLM, "
                "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MixtralForCausalLM, got " +
                c.architecture);
  c.hidden = req_int(j, file, "hidden_size");
  c.intermediate = req_int(j, file, "intermediate_size");
  c.layers = req_int(j, file, "num_hidden_layers");
  c.heads = req_int(j, file, "num_attention_heads");
  c.kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                   ? req_int(j, file, "num_key_value_heads") : c.heads;
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? req_int(j, file, "head_dim")
                                                                  : c.hidden / c.heads;
  c.vocab = req_int(j, file, "vocab_size");
  c.max_context = req_int(j, file, "max_position_embeddings");
  if (c.heads % c.kv_heads != 0)
    throw Error(file + ": num_attention_heads " + std::to_string(c.heads) +
                " is not a multiple of num_key_value_heads " + std::to_string(c.kv_heads));
  if (c.head_dim % 2 != 0)
    throw Error(file + ": head_dim must be even for RoPE, got " + std::to_string(c.head_dim));
  const std::string act = j.value("hidden_act", "silu");
  if (act != "silu")
    throw Error(file + ": hidden_act: expected silu, got " + act);
  c.rms_eps = j.value("rms_norm_eps", 1e-5f);
  c.rope_theta = j.value("rope_theta", 10000.f);
  c.tie_embeddings = j.value("tie_word_embeddings", false);
  c.qkv_bias = c.arch == Arch::Qwen2;
  // Llama-style attention_bias also biases o_proj, and mlp_bias the MLP; neither is
  // implemented, so such checkpoints are refused instead of computed without their biases.
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (j.value(key, false))
      throw Error(file + ": " + key + ": expected false (not supported), got true");
  c.qk_norm = c.arch == Arch::Qwen3;
  if (c.arch == Arch::Mixtral) {
    c.experts = req_int(j, file, "num_local_experts");
    c.experts_per_tok = req_int(j, file, "num_experts_per_tok");
    if (c.experts_per_tok > c.experts)
      throw Error(file + ": num_experts_per_tok " + std::to_string(c.experts_per_tok) +
                  " exceeds num_local_experts " + std::to_string(c.experts));
  }
  // Sliding-window attention equals full attention while the sequence fits the window, so the
  // context is capped there instead of implementing the window.
  const bool use_sw = c.arch != Arch::Qwen2 && c.arch != Arch::Qwen3
                          ? true : j.value("use_sliding_window", false);
  if (use_sw && j.contains("sliding_window") && j["sliding_window"].is_number_integer()) {
    int sw = j["sliding_window"].get<int>();
    if (sw > 0 && sw < c.max_context) c.max_context = sw;
  }
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    const json& r = j["rope_scaling"];
    std::string kind = r.value("rope_type", r.value("type", std::string("default")));
    if (kind == "default") {
    } else if (kind == "linear") {
      c.rope.kind = RopeScaling::Linear;
      c.rope.factor = r.at("factor").get<float>();
    } else if (kind == "llama3") {
      c.rope.kind = RopeScaling::Llama3;
      c.rope.factor = r.at("factor").get<float>();
      c.rope.low_freq_factor = r.at("low_freq_factor").get<float>();
      c.rope.high_freq_factor = r.at("high_freq_factor").get<float>();
      c.rope.original_max_position = r.at("original_max_position_embeddings").get<int>();
    } else {
      throw Error(file + ": rope_scaling.rope_type: expected default, linear or llama3, got " +
                  kind);
    }
  }
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos = j["bos_token_id"].get<int>();
  if (j.contains("eos_token_id")) {
    if (j["eos_token_id"].is_number_integer()) c.eos.push_back(j["eos_token_id"].get<int>());
    else if (j["eos_token_id"].is_array())
      for (auto& e : j["eos_token_id"]) c.eos.push_back(e.get<int>());
  }
  for (int e : c.eos)
    if (e < 0 || e >= c.vocab)
      throw Error(file + ": eos_token_id " + std::to_string(e) + " outside vocab [0, " +
                  std::to_string(c.vocab) + ")");
  // Newer transformers write "dtype"; older ones "torch_dtype". Empty: taken from the weights.
  for (const char* key : {"torch_dtype", "dtype"})
    if (c.dtype.empty() && j.contains(key) && j[key].is_string()) c.dtype = j[key].get<std::string>();
  return c;
}

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<float> f(half);  // (D/2,)
  for (int i = 0; i < half; ++i) {
    double inv = 1.0 / std::pow(static_cast<double>(c.rope_theta), 2.0 * i / c.head_dim);
    if (c.rope.kind == RopeScaling::Linear) {
      inv /= c.rope.factor;
    } else if (c.rope.kind == RopeScaling::Llama3) {
      const double old = c.rope.original_max_position;
      const double lo_wl = old / c.rope.low_freq_factor, hi_wl = old / c.rope.high_freq_factor;
      const double wl = 2 * M_PI / inv;
      if (wl > lo_wl) {
        inv /= c.rope.factor;
      } else if (wl >= hi_wl) {
        const double s = (old / wl - c.rope.low_freq_factor) /
                         (c.rope.high_freq_factor - c.rope.low_freq_factor);
        inv = (1 - s) * inv / c.rope.factor + s * inv;
      }
    }
    f[i] = static_cast<float>(inv);
  }
  return f;
}

}  // namespace bg
