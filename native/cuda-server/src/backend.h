// The compute interface the engine drives. A backend owns the weights and the KV storage
// (host memory for CPU, device memory for CUDA); the engine owns only block bookkeeping
// (kv_cache.h) and hands the backend block tables. A CUDA backend implements the same calls.
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace bg {

// New tokens of one sequence to run through the model in this step.
struct SeqChunk {
  const std::vector<int>* blocks;  // KV block table, covering positions [0, start + n)
  int start;                       // position of tokens[0]; positions < start are in the KV
  std::vector<int> tokens;         // (n,) token ids
  // Multi-item scoring (item-aware mask). Empty: plain causal, token i sits at KV slot and
  // position start + i and attends slots [0, start + i]. Otherwise (n,): the first KV slot of
  // the item token i belongs to; token i at slot p = start + i attends slots [0, shared) and
  // [item_lo[i], p], never another item's slots, and takes RoPE position shared + p -
  // item_lo[i], as if its item alone followed the shared prefix. Slots [0, shared) hold the
  // shared prefix; an item's slots are contiguous. Prefix tokens in the chunk (slot < shared)
  // are plain causal and carry item_lo 0.
  int shared = 0;
  std::vector<int> item_lo{};
};

// What a step row attends: KV slots q <= slot with q < shared or q >= lo (causal: lo = 0).
struct RowSpan {
  int slot;    // KV slot the row writes
  int pos;     // RoPE position
  int shared;  // prefix slots every row of the sequence sees
  int lo;      // first slot of the row's own item
};

// Row spans of a chunk's tokens, validated (throws Error on an inconsistent item layout).
void chunk_row_spans(const SeqChunk& ch, std::vector<RowSpan>* out);

// log(sum(exp(x))) over n values, computed stably: the log-softmax normalizer of a logits row.
float logsumexp(const float* x, int n);

// The argmax output of one logits row (V,): out = {id of the first maximum, its log-softmax}.
void argmax_logprob(const float* logits, int v, float out[2]);

// What to compute at one row of the step's output: a row is (chunk, index within chunk).
// Nothing is computed for rows without a request: no final norm, no lm_head.
struct OutputRequest {
  int chunk;
  int index;
  bool full;             // true: the whole (V,) logits row; false: only `ids`
  std::vector<int> ids;  // vocab rows of lm_head to evaluate when !full
  // With full: return (2,) {argmax id (lowest on ties), its log-softmax} instead of (V,), so
  // greedy decoding reduces on the backend's side (a GPU copies 2 floats, not V).
  bool argmax = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::string name() const = 0;
  // Bytes of KV memory one block of `block_tokens` tokens takes (all layers, K and V).
  virtual size_t kv_block_bytes(int block_tokens) const = 0;
  // (Re)allocates KV storage for `blocks` blocks of `block_tokens` tokens.
  virtual void init_kv(int blocks, int block_tokens) = 0;
  // Copies the first `tokens` token slots of KV block src into dst (all layers).
  virtual void copy_kv_block(int src, int dst, int tokens) = 0;
  // Runs one step: writes K/V of every chunk token into its block table and returns, per
  // output request and in the same order, the logits asked for ((V,) or (ids.size(),)).
  virtual void forward(const std::vector<SeqChunk>& chunks,
                       const std::vector<OutputRequest>& outputs,
                       std::vector<std::vector<float>>* results) = 0;
};

}  // namespace bg
