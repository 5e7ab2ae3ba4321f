// The CPU backend: the reference implementation the CUDA backend is checked against.
#pragma once

#include <memory>

#include "backend.h"
#include "model.h"
#include "thread_pool.h"

namespace bg {

class CpuBackend : public Backend {
 public:
  CpuBackend(Model model, int threads);
  const ModelConfig& config() const override { return model_.cfg; }
  std::string name() const override { return "cpu"; }
  const Model& model() const { return model_; }
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
  void moe(const LayerWeights& w, int t);
  int keep_output_rows(const std::vector<OutputRequest>& outputs,
                       const std::vector<int>& chunk_row0, int t, std::vector<int>* out_row);

  Model model_;
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
