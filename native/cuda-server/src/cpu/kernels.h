// CPU kernels: fp32 math with fp32 accumulation (int32 inside int8 blocks). Every kernel with
// an AVX2/FMA path has a portable scalar twin; the AVX2 code is compiled with target
// attributes and chosen at run time (__builtin_cpu_supports), so one binary runs on any x86-64
// (and the scalar code elsewhere). Dimension letters: M rows (tokens), K inner, N output
// columns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "thread_pool.h"

namespace bg {

// Whether the AVX2/FMA paths are in use. Defaults to what the CPU supports; tests force the
// scalar path with set_simd(false) to check both.
bool simd_enabled();
void set_simd(bool on);
// AVX-512 paths on top of AVX2: the f32/bf16/f16 GEMMs' 12-row, 16-lane micro-kernel
// (AVX512F) and the int8 GEMM's 512-bit vpdpbusd tile (AVX512_VNNI + AVX512BW + AVX512VL), each
// giving the AVX2 path's bits, and attention's softmax step (AVX512F; the same values up to
// the order of its sums).
// Each is on by default where the CPU has it (*_supported) and SIMD is on; set_*(false)
// forces the AVX2 path, for tests.
bool avx512_supported();
bool avx512_enabled();
void set_avx512(bool on);
// AVX512_BF16 dot products (vdpbf16ps, with AVX512BW's word permute) for bf16 weights whose
// PackedMatrix::bf16_activations is set: activations rounded to bf16, as llama.cpp's bf16
// path does. Without it those matrices round the activations and use the FMA kernels.
bool bf16_dot_supported();
bool bf16_dot_enabled();
void set_bf16_dot(bool on);
bool avx512_vnni_supported();
bool avx512_vnni_enabled();
void set_avx512_vnni(bool on);

// Cache-line aligned storage, so a 16-float panel row never straddles two lines.
template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const AlignedAlloc&) const { return true; }
};

// How a PackedMatrix holds its weights (the CPU backend's --weights).
enum class WeightType {
  F32,   // fp32: exact for every checkpoint dtype
  BF16,  // bf16, widened to fp32 in registers: half the bytes, exact for bf16 checkpoints
  F16,   // IEEE half, widened with F16C: half the bytes, exact for f16 checkpoints
  Int8,  // like ggml's Q8_0: int8 with one fp32 scale per 32 weights along K; activations
         // are quantized the same way per row, so each block is an integer dot product
};
const char* weight_type_name(WeightType t);  // "f32", "bf16", "f16", "int8"
// Parses "f32", "bf16", "f16" or "int8"; false for anything else.
bool weight_type_from_name(const std::string& s, WeightType* t);
// Parses --activations: "f32" (*bf16 = false) or "bf16" (true); false for anything else.
bool activations_from_name(const std::string& s, bool* bf16);

// A weight matrix W (N, K) (HF linear layout: out, in) repacked for the GEMM, by type:
//   F32:  panels of 16 output columns, each (K, 16) row-major, zero-padded past N.
//   BF16: the same panels in bf16, the 16 columns of a panel row stored in the order
//         0-3, 8-11, 4-7, 12-15, so that unpacking the low and high halves of each 128-bit
//         lane against zero (one shuffle each) widens them to fp32 columns 0-7 and 8-15.
//   F16:  the same panels in IEEE half, columns in natural order (F16C widens 8 at a time).
//   Int8: groups of 4 output rows; per group and block of 32 along K, the 4 rows' 32 int8
//         values one after the other (128 bytes) and their 4 fp32 scales apart; K must be a
//         multiple of 32. A group's weights are one sequential stream.
struct PackedMatrix {
  static constexpr int NR = 16;  // F32/BF16 panel width
  static constexpr int QR = 4;   // Int8 rows per group
  static constexpr int QK = 32;  // Int8 weights per block (one scale) along K
  WeightType type = WeightType::F32;
  // BF16 only: the GEMM rounds X to bf16 and uses bf16 dot products (see bf16_dot_supported),
  // about twice the FMA rate; row_dot rounds x the same way. Off: X stays fp32, exact.
  bool bf16_activations = false;
  int n = 0;                // N
  int k = 0;                // K
  std::vector<float, AlignedAlloc<float>> data;       // F32: (ceil(N/16), K, 16)
  std::vector<uint16_t, AlignedAlloc<uint16_t>> half;  // BF16/F16: (ceil(N/16), K, 16), see above
  std::vector<int8_t, AlignedAlloc<int8_t>> q;         // Int8: (ceil(N/4), K/32, 4, 32)
  std::vector<float, AlignedAlloc<float>> scale;       // Int8: (ceil(N/4), K/32, 4)
  // All zeros, rows to be filled with set_row: a matrix stacked from several tensors is
  // packed row by row without first building it row-major. Int8 with K % 32 != 0 throws Error.
  static PackedMatrix zeros(int n, int k, WeightType type = WeightType::F32);
  // Packs rows of W (N, K), given row-major fp32.
  static PackedMatrix pack(const float* w, int n, int k, WeightType type = WeightType::F32);
  // W[row, :] = w (K,), rounded to bf16 or quantized for those types.
  void set_row(int row, const float* w);
  // W[row, :] . x over K, reading the packed layout (for a few selected rows). Int8 quantizes
  // x like gemm does, so a row_dot matches the gemm's output up to summation order.
  float row_dot(int row, const float* x) const;
  // out (K,) = W[row, :] as fp32 (dequantized for Int8): an embedding lookup.
  void row(int row, float* out) const;
  // Bytes of weight storage (padding included): what one pass over the matrix reads.
  size_t bytes() const;
};

// The bf16 panel slot of column j (0..15): the order described at PackedMatrix. Its own inverse.
constexpr int bf16_slot(int j) { return (j & 3) | ((j & 4) << 1) | ((j & 8) >> 1); }

// Q8_0 quantization of one row x (K,), K % 32 == 0: per block of 32, d = max|x| / 127 and
// q = x * (1 / d) rounded to nearest even, in [-127, 127] (never -128, which the AVX2 sign trick
// cannot negate). Both paths give the same bits.
void quantize_q8(const float* x, int k, int8_t* q, float* d);

// Y (M, N) = X (M, K) @ W^T, with X rows ldx floats apart and Y rows ldy apart, for any
// weight type; each tile of at most 96 rows reads every weight byte once, so small-M calls
// (decode) stream the weights once per token.
void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy,
          ThreadPool& pool);
// Plain triple loop for tests: Y (M, N) = X (M, K) @ W (N, K)^T.
void gemm_ref(const float* x, int m, int k, const float* w, int n, float* y);

// C (rows, 16) = X (rows, k) @ P (k, 16), or += with accumulate; rows of X, P and C are ldx,
// ldp and ldc floats apart. The GEMM micro-kernel, exposed for attention's small products.
void micro_gemm16(const float* x, int rows, int ldx, const float* p, int ldp, int k, float* c,
                  int ldc, bool accumulate);

// x[i] = exp(x[i]); the AVX2 path is a polynomial with ~2e-7 relative error.
void exp_inplace(float* x, int n);

// One step of attention's online softmax over a panel of 16 keys, for `rows` query rows: s
// (rows, 16) holds the scores, bit j of mask[i] whether row i sees key j. Updates the running
// max m (rows,) and sum l (rows,), rescales o's row i (d floats) when its max grows, and
// leaves exp(s - m) in s, 0 where masked.
void online_softmax16(float* s, int rows, const uint16_t* mask, float* m, float* l, float* o,
                      int d);

float dot(const float* a, const float* b, int n);
void axpy(float a, const float* x, float* y, int n);  // y += a * x

// out (N,) = x / sqrt(mean(x^2) + eps) * g; out may alias x.
void rmsnorm(const float* x, const float* g, int n, float eps, float* out);
// In-place softmax over n values.
void softmax(float* x, int n);
// out (N,) = silu(gate) * up
void swiglu(const float* gate, const float* up, int n, float* out);
// HF rotate-half RoPE on `heads` vectors of D at x (heads, D), position pos.
void rope(float* x, int heads, int d, int pos, const float* inv_freq);

// Mixtral routing: softmax over router logits (E,), keep the top k, renormalize over them.
// Ties go to the lower expert index (like a stable sort).
void moe_route(const float* logits, int e, int k, int* idx, float* weight);

}  // namespace bg
