// The CPU backend: the reference implementation the CUDA backend is checked against.
//
// Weights are fp32 whatever the checkpoint stores (bf16/f16 are converted once at load), and
// linear layers are packed into 16-column panels for the GEMM, with q/k/v and gate/up stacked
// into one GEMM each. That doubles memory for 16-bit checkpoints but keeps every matmul a plain
// fp32 register-tiled GEMM with no per-use dequantization; at the sizes the CPU backend serves
// (tests, CI, small models) speed matters more than memory.
#pragma once

#include <memory>

#include "backend.h"
#include "kernels.h"
#include "model.h"
#include "thread_pool.h"

namespace bg {

struct CpuLayer {
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

class CpuBackend : public Backend {
 public:
  // Converts and packs the loader's tensors; `m` can be dropped afterwards.
  CpuBackend(const Model& m, int threads);
  const ModelConfig& config() const override { return cfg_; }
  std::string name() const override { return "cpu"; }
  const CpuLayer& layer(int l) const { return layers_[l]; }
  ThreadPool& pool() { return pool_; }
  size_t kv_block_bytes(int block_tokens) const override;
  void init_kv(int blocks, int block_tokens) override;
  void copy_kv_block(int src, int dst, int tokens) override;
  void forward(const std::vector<SeqChunk>& chunks, const std::vector<OutputRequest>& outputs,
               std::vector<std::vector<float>>* results) override;

 private:
  float* k_block(int block, int layer);  // (K heads, B/16, D, 16)
  float* v_block(int block, int layer);  // (K heads, B, D)
  void write_kv(int block, int layer, int slot, const float* k, const float* v);
  void attention(int layer, const std::vector<SeqChunk>& chunks, const std::vector<int>& row_chunk,
                 const std::vector<RowSpan>& span, int t);
  void moe(const CpuLayer& w, int t);
  int keep_output_rows(const std::vector<OutputRequest>& outputs,
                       const std::vector<int>& chunk_row0, int t, std::vector<int>* out_row);

  ModelConfig cfg_;
  std::vector<float> embed_;       // (V, C)
  std::vector<CpuLayer> layers_;
  std::vector<float> final_norm_;  // (C,)
  PackedMatrix lm_head_;           // (V, C), a packed copy of embed_ when tied
  std::vector<float> inv_freq_;    // (D/2,)
  ThreadPool pool_;
  int block_tokens_ = 0;
  int kv_dim_ = 0;               // K * D
  // (blocks, L, [K part, V part]) as laid out by k_block/v_block; left uninitialized so an unused budget costs no RAM.
  std::unique_ptr<float[]> kv_;
  // Step scratch, grown to the largest step seen. T = tokens in the step.
  std::vector<float> x_;         // (T, C) residual stream
  std::vector<float> h_;         // (T, C) normed input
  std::vector<float> qkv_;       // (T, (H + 2K) * D)
  std::vector<float> att_;       // (T, H * D)
  std::vector<float> tmp_;       // (T, C)
  std::vector<float> gu_;        // (T, 2F)
  std::vector<float> act_;       // (T, F)
};

}  // namespace bg
