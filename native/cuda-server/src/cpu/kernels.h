// CPU kernels: fp32 math with fp32 accumulation. Every kernel with an AVX2/FMA path has a
// portable scalar twin; the AVX2 code is compiled with target attributes and chosen at run
// time (__builtin_cpu_supports), so one binary runs on any x86-64 (and the scalar code
// elsewhere). Dimension letters: M rows (tokens), K inner, N output columns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "thread_pool.h"

namespace bg {

// Whether the AVX2/FMA paths are in use. Defaults to what the CPU supports; tests force the
// scalar path with set_simd(false) to check both.
bool simd_enabled();
void set_simd(bool on);

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

// A weight matrix W (N, K) (HF linear layout: out, in) repacked for the GEMM micro-kernel:
// panels of 16 output columns, each (K, 16) row-major, zero-padded past N.
struct PackedMatrix {
  static constexpr int NR = 16;
  int n = 0;                // N
  int k = 0;                // K
  std::vector<float, AlignedAlloc<float>> data;  // (ceil(N/16), K, 16)
  // All zeros, rows to be filled with set_row: a matrix stacked from several tensors is
  // packed row by row without first building it row-major.
  static PackedMatrix zeros(int n, int k);
  // Packs rows of W (N, K), given row-major fp32.
  static PackedMatrix pack(const float* w, int n, int k);
  void set_row(int row, const float* w);  // W[row, :] = w (K,)
  // W[row, :] . x over K, reading the packed layout (for a few selected rows).
  float row_dot(int row, const float* x) const;
};

// Y (M, N) = X (M, K) @ W^T, with X rows ldx floats apart and Y rows ldy apart.
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
