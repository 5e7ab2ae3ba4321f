// The model as the loader hands it to every backend: the config and plain tensors, each in the
// dtype it is stored in (F32, BF16 or F16, mixed freely), with its Hugging Face shape and
// row-major data. Every check (shapes, dtypes, tensors missing or unused) is done here; each
// backend only converts and lays the tensors out its own way (src/cpu/, src/cuda/).
//
// The tensors point into the mmapped checkpoint, which the Model keeps alive, rather than into
// copies: a backend converts each tensor straight from the mapping and drops its pages
// (TensorView::release), so building a backend holds its own weights plus about one tensor,
// never a second whole copy of the model. Drop the Model once the backend is built to unmap.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "safetensors.h"

namespace bg {

struct LayerTensors {
  TensorView attn_norm;                        // (C,)
  TensorView q, k, v;                          // (H * D, C), (K * D, C), (K * D, C)
  TensorView q_bias, k_bias, v_bias;           // (H * D,), (K * D,), (K * D,) or absent
  TensorView q_norm, k_norm;                   // (D,) Qwen3 only
  TensorView o;                                // (C, H * D)
  TensorView ffn_norm;                         // (C,)
  TensorView gate, up, down;                   // (F, C), (F, C), (C, F) (dense models)
  TensorView router;                           // (E, C) (MoE)
  std::vector<TensorView> expert_gate;         // E x (F, C) (w1)
  std::vector<TensorView> expert_up;           // E x (F, C) (w3)
  std::vector<TensorView> expert_down;         // E x (C, F) (w2)
};

struct Model {
  ModelConfig cfg;
  std::string name;               // directory base name
  int64_t num_params = 0;
  TensorView embed;               // (V, C)
  std::vector<LayerTensors> layers;
  TensorView final_norm;          // (C,)
  TensorView lm_head;             // (V, C); the embedding itself when tied
  std::vector<float> inv_freq;    // (D/2,)
  std::vector<DType> stored;      // dtypes the tensors are stored in, in DType order
  std::shared_ptr<const Checkpoint> checkpoint;  // the mapping the tensors point into
  std::string sha256;             // config and tensor layout, not weights (fingerprint.h)
  std::string tokenizer_sha256;   // of the directory's tokenizer.json; empty: it has none
};

// Loads and validates a Hugging Face checkpoint directory. Throws Error naming the file and
// tensor, with expected vs got, on any mismatch with config.json or a dtype no backend reads.
Model load_model(const std::string& dir);

// "BF16+F32": the dtypes a model is stored in, for logs.
std::string stored_dtypes(const Model& m);

}  // namespace bg
