// Model weights in the CPU backend's layout: fp32, linear layers repacked for the GEMM.
//
// bf16/f16 checkpoints are converted to fp32 once at load (the checkpoint itself is only
// mmapped and read). This doubles resident memory for 16-bit checkpoints, but keeps every
// matmul a plain fp32 register-tiled GEMM with no per-use dequantization; at the sizes the
// CPU backend serves (tests, CI, small models) speed matters more than memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "kernels.h"

namespace bg {

struct LayerWeights {
  std::vector<float> attn_norm;   // (C,)
  PackedMatrix qkv;               // ((H + 2K) * D, C): q rows, then k rows, then v rows
  std::vector<float> qkv_bias;    // ((H + 2K) * D,) or empty
  std::vector<float> q_norm;      // (D,) Qwen3 only
  std::vector<float> k_norm;      // (D,) Qwen3 only
  PackedMatrix o;                 // (C, H * D)
  std::vector<float> ffn_norm;    // (C,)
  PackedMatrix gate_up;           // (2F, C): gate rows then up rows (dense models)
  PackedMatrix down;              // (C, F) (dense models)
  PackedMatrix router;            // (E, C) (MoE)
  std::vector<PackedMatrix> expert_gate_up;  // E x (2F, C)
  std::vector<PackedMatrix> expert_down;     // E x (C, F)
};

struct Model {
  ModelConfig cfg;
  std::string name;               // directory base name
  int64_t num_params = 0;
  std::vector<float> embed;       // (V, C)
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // (C,)
  PackedMatrix lm_head;           // (V, C), a packed copy of embed when tied
  std::vector<float> inv_freq;    // (D/2,)
};

// Loads and validates a Hugging Face checkpoint directory. Throws Error naming the file and
// tensor, with expected vs got, on any mismatch with config.json.
Model load_model(const std::string& dir);

}  // namespace bg
