// The CPU backend: the reference implementation the CUDA backend is checked against.
//
// Linear layers are packed for the GEMM (kernels.h), with q/k/v and gate/up stacked into one
// GEMM each, in the backend's weight type:
//   f32  (the default): whatever the checkpoint stores is converted to fp32 once at load.
//        Double the memory of a 16-bit checkpoint, but every matmul a plain fp32 GEMM and the
//        reference the other types and the CUDA backend are compared against.
//   bf16: 16-bit weights in memory, widened in registers; exact for bf16 checkpoints (f16 and
//        f32 values are rounded to bf16 once at load). Half the bytes per decode token.
//   f16:  the same with IEEE half (F16C); exact for f16 checkpoints, refuses weights beyond
//        f16's range (65504).
//   int8: Q8_0-style blocks quantized at load; a quarter of fp32's bytes, approximate.
// With bf16 weights, bf16 activations (--activations bf16) trade exactness for bf16 dot
// products, as llama.cpp does for bf16 models; the default keeps activations fp32.
// Embeddings are stored in the weight type too (a tied model gathers its rows from lm_head,
// so no second copy exists); norms, biases and the MoE router stay fp32: they are small, and
// rounding the router would move Mixtral's top-k choices on near ties.
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
  PackedMatrix router;            // (E, C) (MoE), always f32
  std::vector<PackedMatrix> expert_gate_up;  // E x (2F, C)
  std::vector<PackedMatrix> expert_down;     // E x (C, F)
};

// The weight type served when none is asked for: bf16 when every tensor is stored BF16, f16
// when every tensor is stored F16 (no value changes, half the memory of f32), f32 otherwise
// (mixed or f32 checkpoints).
WeightType default_weight_type(const Model& m);

class CpuBackend : public Backend {
 public:
  // Converts and packs the loader's tensors; `m` can be dropped afterwards. Throws Error
  // naming the tensor when it cannot be held in `weights` (int8 needs K % 32 == 0).
  // bf16_activations (bf16 weights only, else Error): every linear layer rounds its input to
  // bf16 and uses bf16 dot products (kernels.h), as llama.cpp's bf16 path does: about twice
  // the GEMM rate, no longer exact.
  CpuBackend(const Model& m, int threads, WeightType weights = WeightType::F32,
             bool bf16_activations = false);
  WeightType weights() const { return weights_; }
  bool bf16_activations() const { return bf16_activations_; }
  // Bytes of packed weights (embedding, linear layers, lm_head; norms and biases excluded).
  size_t weight_bytes() const;
  // Bytes of weights one decode token streams: every linear layer and lm_head (the embedding
  // lookup reads one row; a MoE model counts its experts as if all were used).
  size_t weight_bytes_per_token() const;
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

  const PackedMatrix& embedding() const { return cfg_.tie_embeddings ? lm_head_ : embed_; }

  ModelConfig cfg_;
  WeightType weights_;
  bool bf16_activations_;
  PackedMatrix embed_;             // (V, C); empty when tied (lm_head_ is the embedding)
  std::vector<CpuLayer> layers_;
  std::vector<float> final_norm_;  // (C,)
  PackedMatrix lm_head_;           // (V, C)
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
