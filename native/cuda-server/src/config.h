// The subset of a Hugging Face config.json that defines the decoder forward pass.
#pragma once

#include <string>
#include <vector>

namespace bg {

enum class Arch { Llama, Mistral, Qwen2, Qwen3, Mixtral };

struct RopeScaling {
  enum Kind { None, Linear, Llama3 } kind = None;
  float factor = 1.f;
  float low_freq_factor = 1.f;
  float high_freq_factor = 4.f;
  int original_max_position = 8192;
};

struct ModelConfig {
  std::string architecture;  // config "architectures"[0]
  Arch arch = Arch::Llama;
  int hidden = 0;            // C
  int intermediate = 0;      // F
  int layers = 0;            // L
  int heads = 0;             // H
  int kv_heads = 0;          // K
  int head_dim = 0;          // D
  int vocab = 0;             // V
  int max_context = 0;       // max_position_embeddings, capped by sliding_window
  int experts = 0;           // E (Mixtral), 0 for dense
  int experts_per_tok = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.f;
  RopeScaling rope;
  bool tie_embeddings = false;
  bool qkv_bias = false;     // Qwen2 (and Llama with attention_bias)
  bool qk_norm = false;      // Qwen3
  int bos = -1;
  std::vector<int> eos;
  std::string dtype;         // torch_dtype / dtype as written, else the embedding's dtype;
                             // describes the model only: tensors may be stored otherwise
};

// Parses `dir`/config.json; throws Error naming the file and the field on anything it cannot
// serve exactly (unknown architecture, missing sizes, unsupported rope_scaling).
ModelConfig load_config(const std::string& dir);

// (D/2,) RoPE inverse frequencies with rope scaling applied, as HF computes them.
std::vector<float> rope_inv_freq(const ModelConfig& c);

}  // namespace bg
