// The CUDA backend: bf16 weights and KV cache in device memory, tensor-core GEMMs, paged
// attention with the item-aware mask. Same Backend contract as the CPU backend, which it is
// checked against (tests/cuda). One CUDA stream; forward() returns after the step's results
// are on the host. Steps of single-token chunks (decode) replay a captured CUDA graph.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend.h"
#include "model.h"
#include "kernels.cuh"

namespace bg {

class CudaBackend : public Backend {
 public:
  // Converts the loader's tensors (any readable dtype) to bf16 device weights, fp32 for norms
  // and biases; `m` can be dropped afterwards.
  explicit CudaBackend(const Model& m);
  // Weights of `cfg`'s shapes drawn uniform(+-1/sqrt(in)) on the device: benchmarks of
  // model shapes without checkpoints. Norm weights are 1.
  CudaBackend(const ModelConfig& cfg, uint64_t seed);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  const ModelConfig& config() const override { return cfg_; }
  std::string name() const override { return "cuda"; }
  size_t kv_block_bytes(int block_tokens) const override;
  void init_kv(int blocks, int block_tokens) override;
  void copy_kv_block(int src, int dst, int tokens) override;
  void forward(const std::vector<SeqChunk>& chunks, const std::vector<OutputRequest>& outputs,
               std::vector<std::vector<float>>* results) override;

  // Decode steps replay captured graphs (default on); tests turn it off to compare.
  void set_graphs(bool on) { graphs_ = on; }
  cudaStream_t stream() const { return stream_; }
  // Bytes of weights in device memory (benchmarks: bandwidth of a decode step).
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  struct Layer {
    float* attn_norm = nullptr;      // (C,)
    uint16_t* qkv = nullptr;         // ((H + 2K) * D, C)
    float* qkv_bias = nullptr;       // ((H + 2K) * D,) or null
    float* q_norm = nullptr;         // (D,) Qwen3 only
    float* k_norm = nullptr;         // (D,) Qwen3 only
    uint16_t* o = nullptr;           // (C, H * D)
    float* ffn_norm = nullptr;       // (C,)
    uint16_t* gate_up = nullptr;     // (2F, C) dense; (E, 2F, C) experts
    uint16_t* down = nullptr;        // (C, F) dense; (E, C, F) experts
    uint16_t* router = nullptr;      // (E, C)
  };
  void* dev_alloc(size_t bytes);
  template <class T>
  T* upload(const std::vector<const TensorView*>& parts);
  uint16_t* upload_bf16(const std::vector<const TensorView*>& parts);  // stacked by rows
  float* upload_f32(const std::vector<const TensorView*>& parts);      // null when absent
  float* upload_f32(const std::vector<float>& v);
  uint16_t* random_bf16(size_t n, int fan_in);
  float* ones_f32(size_t n);
  void finish_init();
  void reserve(int t, int n_out, int n_full, int n_label, int n_tables, int n_tiles);
  void free_scratch();
  void run_layers(int t, int n_tiles);
  void run_output(int n_out, int n_full, int n_label);

  ModelConfig cfg_;
  std::vector<void*> allocs_;  // device memory owned here, freed in the destructor
  size_t weight_bytes_ = 0;
  uint64_t seed_ = 0, tensors_drawn_ = 0;  // random weights
  uint16_t* embed_ = nullptr;    // (V, C)
  uint16_t* lm_head_ = nullptr;  // (V, C), == embed_ when tied
  float* final_norm_ = nullptr;  // (C,)
  float* inv_freq_ = nullptr;    // (D/2,)
  std::vector<Layer> layers_;
  cudaStream_t stream_ = nullptr;
  int tile_rows_ = 1;            // attention tile rows (shared memory bound)

  uint16_t* kv_ = nullptr;       // (blocks, L, 2, K, B, D)
  int block_tokens_ = 0;

  // Step scratch, grown to the largest step (T rows) seen; fixed addresses between growths,
  // which is what lets captured graphs be replayed.
  struct Scratch {
    int t = 0, out = 0, full = 0, label = 0;  // capacities in rows
    float* x = nullptr;          // (T, C) residual stream
    uint16_t* h = nullptr;       // (T, C) normed input
    float* qkv = nullptr;        // (T, (H + 2K) * D)
    uint16_t* q = nullptr;       // (T, H * D)
    uint16_t* att = nullptr;     // (T, H * D)
    float* tmp = nullptr;        // (T, C) projection output before the residual add
    float* gu = nullptr;         // (T * k, 2F) (k = 1 for dense)
    uint16_t* act = nullptr;     // (T * k, F)
    float* router = nullptr;     // (T, E)
    int* idx = nullptr;          // (T, k)
    float* wt = nullptr;         // (T, k)
    int* row0 = nullptr;         // (E + 1,)
    int* src = nullptr;          // (T * k,)
    int* dst = nullptr;          // (T * k,)
    uint16_t* xe = nullptr;      // (T * k, C)
    float* ye = nullptr;         // (T * k, C)
    uint16_t* hn = nullptr;      // (outputs, C) final-normed output rows
    uint16_t* hf = nullptr;      // (full, C) rows wanting full logits
    float* logits = nullptr;     // (full, V)
    float* amax = nullptr;       // (full, 2) argmax id and its log-prob per full row
    float* labels = nullptr;     // (label,)
    // Step metadata, uploaded with one copy: tokens (T,), rows (T,), tables, tiles,
    // out_rows (outputs,), full_rows (full,), label_rows (label,), label_ids (label,).
    char* meta = nullptr;
    char* host_meta = nullptr;   // pinned
    size_t meta_bytes = 0;
  } s_;
  // Offsets (bytes) of the metadata arrays inside meta, set by forward().
  size_t off_tokens_ = 0, off_rows_ = 0, off_tables_ = 0, off_tiles_ = 0, off_out_ = 0,
         off_full_ = 0, off_lrows_ = 0, off_lids_ = 0;
  std::vector<float> host_logits_, host_labels_, host_amax_;  // pinned would be faster

  const float* last_pending_ = nullptr;  // last layer's projection output, added at the norm

  bool graphs_ = true;
  std::map<int, cudaGraphExec_t> decode_graphs_;  // keyed by T, valid for the current scratch
  size_t graph_meta_bytes_ = 0;                   // metadata size the graphs were captured with
};

}  // namespace bg
