// CUDA kernels of the sidecar: bf16 weights and activations, fp32 accumulation. Host-callable
// launchers only, so the backend and the tests are plain C++. bf16 buffers are passed as their
// raw 16-bit patterns (uint16_t); every launcher enqueues on `st` and checks the launch.
//
// Dimension letters: T step rows, C hidden, H query heads, K kv heads, D head dim, F MLP width,
// E experts, V vocab, B tokens per KV block, L layers. Linear weights W are (N, K) row-major as
// in Hugging Face checkpoints (out, in), so Y = X W^T is the "TN" GEMM the tensor cores want.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace bg::cuda {

// Y (M, N) fp32 = X (M, K) bf16 @ W (N, K)^T bf16 [+ Y]. Rows of X and Y are ldx and ldy
// elements apart. K must be a multiple of 8 (16-byte rows); M and N are arbitrary.
// Grouped form: `groups` GEMMs in one launch; group g reads X rows [row0[g], row0[g+1]),
// W + g * N * K, and writes the same rows of Y; row0 (groups + 1,) lives in device memory, so
// row counts computed on the device need no host round trip. max_rows bounds any one group.
void gemm_bf16(const uint16_t* x, int m, int k, int ldx, const uint16_t* w, int n, float* y,
               int ldy, bool accumulate, cudaStream_t st);
void gemm_bf16_grouped(const uint16_t* x, int k, int ldx, const uint16_t* w, int n, float* y,
                       int ldy, const int* row0, int groups, int max_rows, cudaStream_t st);

// x (T, C) fp32 = embed[tokens] (V, C) bf16.
void embed_gather(const uint16_t* embed, const int* tokens, int t, int c, float* x, cudaStream_t st);

// Fused residual add and RMSNorm: x (T, C) += delta (T, C) (skipped when delta is null), then
// h (T, C) bf16 = x / sqrt(mean(x^2) + eps) * g. Rows of x are read at rows[i] when rows is
// non-null (gathering output rows), h row i is written densely.
void add_rmsnorm(float* x, const float* delta, const float* g, int t, int c, float eps,
                 uint16_t* h, const int* rows, cudaStream_t st);

// Per-row KV geometry of a step (see backend.h RowSpan), plus the row's block table.
struct RowMeta {
  int slot, pos, shared, lo;
  int table;  // offset of the row's block table in the step's flattened tables
};

// After the QKV GEMM: qkv (T, (H + 2K) * D) fp32 gets its bias, Qwen3 q/k RMSNorm and RoPE
// (rotate-half, angle pos * inv_freq[i], llama3 scaling already in inv_freq (D/2,)); q goes
// to q (T, H * D) bf16, k and v to the paged cache of `layer` at each row's slot.
struct KvLayout {
  uint16_t* base;  // (blocks, L, 2, K, B, D) bf16
  int layers, kv_heads, block_tokens, head_dim;
};
void qkv_rope_store(const float* qkv, const float* bias, const float* q_norm, const float* k_norm,
                    float eps, const float* inv_freq, const RowMeta* rows, const int* tables,
                    int t, int h, KvLayout kv, int layer, uint16_t* q, cudaStream_t st);

// Paged attention for prefill and decode, GQA, item-aware mask: row r attends slots
// q <= slot with q < shared or q >= lo. Work units are tiles of consecutive rows of one
// sequence (tile (first row, rows)) times KV heads; each K/V panel is read once per tile for
// all its query heads. out (T, H * D) bf16.
struct AttnTile {
  int row0, rows;
};
void paged_attention(const uint16_t* q, const RowMeta* rows, const int* tables,
                     const AttnTile* tiles, int n_tiles, int max_tile_rows, int h, KvLayout kv,
                     int layer, uint16_t* out, cudaStream_t st);
// Largest tile rows paged_attention accepts for this head geometry (shared memory bound);
// also raises the kernel's dynamic shared memory limit to what such tiles need, so call it
// once before paged_attention (and outside graph capture).
int attention_tile_rows(int heads, int kv_heads, int head_dim);

// act (T, F) bf16 = silu(gu[:, :F]) * gu[:, F:] from gu (T, 2F) fp32.
void swiglu(const float* gu, int t, int f, uint16_t* act, cudaStream_t st);

// Mixtral routing, all on the device so a step needs no host round trip.
// logits (T, E) fp32 -> per row the top k experts (ties to the lower index) with softmax
// weights renormalized over them: idx (T, k), wt (T, k). Then rows are grouped by expert
// (stable in row order): row0 (E + 1,) group starts, src (T * k,) the step row of each grouped
// row, dst (T * k,) the grouped row of each (row, choice).
void moe_route(const float* logits, int t, int e, int k, int* idx, float* wt, cudaStream_t st);
void moe_group(const int* idx, int t, int e, int k, int* row0, int* src, int* dst, cudaStream_t st);
// xe (T * k, C) bf16 = h[src] ; x (T, C) += sum_i wt[r, i] * ye[dst[r, i]] with ye (T * k, C).
void gather_rows(const uint16_t* h, const int* src, int n, int c, uint16_t* xe, cudaStream_t st);
void moe_combine(const float* ye, const int* dst, const float* wt, int t, int k, int c, float* x,
                 cudaStream_t st);

// Greedy decoding on the device: out (n, 2) = {argmax id (lowest on ties), its log-softmax}
// of each logits row (n, V) fp32, so a decode step copies 2 floats per row back, not V.
void argmax_logprob(const float* logits, int n, int v, float* out, cudaStream_t st);

// Label-only logits: out[i] = lm_head[ids[i]] (V, C) . h[row[i]] (n, C) bf16, fp32.
void label_logits(const uint16_t* lm_head, const uint16_t* h, const int* row, const int* ids,
                  int n, int c, float* out, cudaStream_t st);

// Fills n bf16 values with uniform(-scale, scale) from a counter hash of (seed, index): random
// weights for benchmarks and tests without host transfers.
void fill_random_bf16(uint16_t* p, size_t n, uint64_t seed, float scale, cudaStream_t st);
void fill_f32(float* p, size_t n, float v, cudaStream_t st);

}  // namespace bg::cuda
