#include "kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "error.h"

namespace bg {

// ---------------------------------------------------------------------------------------------
// dispatch

static bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

static bool g_simd = cpu_has_avx2();
bool simd_enabled() { return g_simd; }
void set_simd(bool on) { g_simd = on && cpu_has_avx2(); }

// ---------------------------------------------------------------------------------------------
// packing

PackedMatrix PackedMatrix::zeros(int n, int k) {
  PackedMatrix p;
  p.n = n;
  p.k = k;
  const int panels = (n + NR - 1) / NR;
  p.data.assign(static_cast<size_t>(panels) * k * NR, 0.f);
  return p;
}

PackedMatrix PackedMatrix::pack(const float* w, int n, int k) {
  PackedMatrix p = zeros(n, k);
  for (int r = 0; r < n; ++r) p.set_row(r, w + static_cast<size_t>(r) * k);
  return p;
}

void PackedMatrix::set_row(int row, const float* w) {
  float* dst = data.data() + static_cast<size_t>(row / NR) * k * NR + row % NR;
  for (int i = 0; i < k; ++i) dst[static_cast<size_t>(i) * NR] = w[i];
}

float PackedMatrix::row_dot(int row, const float* x) const {
  const float* p = data.data() + static_cast<size_t>(row / NR) * k * NR + row % NR;
  float s = 0.f;
  for (int i = 0; i < k; ++i) s += p[static_cast<size_t>(i) * NR] * x[i];
  return s;
}

// ---------------------------------------------------------------------------------------------
// GEMM: blocked over (MB rows, NB panels) tiles split across threads; inside a tile the K
// dimension is cut into KC slices so one packed panel slice (KC x 16 floats = 16 KiB) stays
// in L1 while up to MB rows of X stream over it from L2.

namespace {

constexpr int NR = PackedMatrix::NR;
constexpr int MR = 6;     // rows per micro-kernel call: 6x16 accumulators = 12 ymm registers
constexpr int KC = 256;
constexpr int MB = 96;
constexpr int NBP = 4;    // panels per tile

// C (R, 16) (+)= X (R, kc) @ P (kc, 16), rows of X, P, C ldx, ldp, ldc floats apart.
// Accumulators are named scalars, not an array: GCC keeps an __m256 array in memory and
// stores it every iteration, which halves the kernel's speed.
#define BG_ROW(r)                                                              \
  if constexpr (R > r) {                                                       \
    const __m256 xv = _mm256_broadcast_ss(x + static_cast<size_t>(r) * ldx + i); \
    a##r##0 = _mm256_fmadd_ps(xv, w0, a##r##0);                                \
    a##r##1 = _mm256_fmadd_ps(xv, w1, a##r##1);                                \
  }
#define BG_LOAD(r)                                                                   \
  if constexpr (R > r) {                                                             \
    if (load_c) {                                                                    \
      a##r##0 = _mm256_loadu_ps(c + (r) * ldc);                                      \
      a##r##1 = _mm256_loadu_ps(c + (r) * ldc + 8);                                  \
    }                                                                                \
  }
#define BG_STORE(r)                                \
  if constexpr (R > r) {                           \
    _mm256_storeu_ps(c + (r) * ldc, a##r##0);      \
    _mm256_storeu_ps(c + (r) * ldc + 8, a##r##1);  \
  }

template <int R>
__attribute__((target("avx2,fma"))) void micro_avx2(const float* x, int ldx, const float* p,
                                                     int ldp, int kc, float* c, int ldc,
                                                     bool load_c) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
         a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  BG_LOAD(0) BG_LOAD(1) BG_LOAD(2) BG_LOAD(3) BG_LOAD(4) BG_LOAD(5)
  for (int i = 0; i < kc; ++i) {
    const __m256 w0 = _mm256_loadu_ps(p + static_cast<size_t>(i) * ldp);
    const __m256 w1 = _mm256_loadu_ps(p + static_cast<size_t>(i) * ldp + 8);
    BG_ROW(0) BG_ROW(1) BG_ROW(2) BG_ROW(3) BG_ROW(4) BG_ROW(5)
  }
  BG_STORE(0) BG_STORE(1) BG_STORE(2) BG_STORE(3) BG_STORE(4) BG_STORE(5)
}

#undef BG_ROW
#undef BG_LOAD
#undef BG_STORE

template <int R>
void micro_scalar(const float* x, int ldx, const float* p, int ldp, int kc, float* c, int ldc,
                  bool load_c) {
  float acc[R][NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = load_c ? c[r * ldc + j] : 0.f;
  for (int i = 0; i < kc; ++i)
    for (int r = 0; r < R; ++r) {
      const float xv = x[static_cast<size_t>(r) * ldx + i];
      for (int j = 0; j < NR; ++j) acc[r][j] += xv * p[static_cast<size_t>(i) * ldp + j];
    }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
}

using MicroFn = void (*)(const float*, int, const float*, int, int, float*, int, bool);

MicroFn micro_for(int rows, bool simd) {
  if (simd) {
    switch (rows) {
      case 1: return micro_avx2<1>;
      case 2: return micro_avx2<2>;
      case 3: return micro_avx2<3>;
      case 4: return micro_avx2<4>;
      case 5: return micro_avx2<5>;
      default: return micro_avx2<6>;
    }
  }
  switch (rows) {
    case 1: return micro_scalar<1>;
    case 2: return micro_scalar<2>;
    case 3: return micro_scalar<3>;
    case 4: return micro_scalar<4>;
    case 5: return micro_scalar<5>;
    default: return micro_scalar<6>;
  }
}

void gemm_tile(const float* x, int ldx, const PackedMatrix& w, float* y, int ldy, int m0,
               int m1, int p0, int p1, bool simd) {
  const int k = w.k;
  // Accumulator tile (MB, NBP * 16), kept contiguous per panel: (panel, row, 16).
  alignas(64) float ctile[NBP][MB][NR];
  for (int kc0 = 0; kc0 < k; kc0 += KC) {
    const int kc = std::min(KC, k - kc0);
    for (int p = p0; p < p1; ++p) {
      const float* panel = w.data.data() + static_cast<size_t>(p) * k * NR + static_cast<size_t>(kc0) * NR;
      for (int m = m0; m < m1; m += MR) {
        const int rows = std::min(MR, m1 - m);
        micro_for(rows, simd)(x + static_cast<size_t>(m) * ldx + kc0, ldx, panel, NR, kc,
                              &ctile[p - p0][m - m0][0], NR, kc0 > 0);
      }
    }
  }
  for (int p = p0; p < p1; ++p) {
    const int c0 = p * NR, cols = std::min(NR, w.n - c0);
    for (int m = m0; m < m1; ++m)
      std::memcpy(y + static_cast<size_t>(m) * ldy + c0, &ctile[p - p0][m - m0][0],
                  sizeof(float) * cols);
  }
}

}  // namespace

void micro_gemm16(const float* x, int rows, int ldx, const float* p, int ldp, int k, float* c,
                  int ldc, bool accumulate) {
  for (int r = 0; r < rows; r += MR) {
    const int n = std::min(MR, rows - r);
    micro_for(n, g_simd)(x + static_cast<size_t>(r) * ldx, ldx, p, ldp, k,
                         c + static_cast<size_t>(r) * ldc, ldc, accumulate);
  }
}

void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy,
          ThreadPool& pool) {
  if (m <= 0) return;
  const int panels = (w.n + NR - 1) / NR;
  const int nb = (panels + NBP - 1) / NBP, mbs = (m + MB - 1) / MB;
  const bool simd = g_simd;
  // Tiles ordered panel-block-major so a thread's contiguous range shares weight panels.
  pool.parallel_for(nb * mbs, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      const int pb = t / mbs, mb = t % mbs;
      gemm_tile(x, ldx, w, y, ldy, mb * MB, std::min(m, (mb + 1) * MB), pb * NBP,
                std::min(panels, (pb + 1) * NBP), simd);
    }
  });
}

void gemm_ref(const float* x, int m, int k, const float* w, int n, float* y) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      y[i * n + j] = static_cast<float>(s);
    }
}

// ---------------------------------------------------------------------------------------------
// vector kernels

__attribute__((target("avx2,fma"))) static float dot_avx2(const float* a, const float* b, int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float s = _mm_cvtss_f32(h);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(float a, const float* x, float* y,
                                                           int n) {
  const __m256 av = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

// exp(x) for 8 floats: range reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for
// e^r, 2^n through the exponent bits. Relative error ~2e-7; inputs below -87 give 0.
__attribute__((target("avx2,fma"))) static __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 out = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  // Below the clamp the true value is < 1.2e-38: return exactly 0 (masked scores).
  return _mm256_and_ps(out, _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GT_OQ));
}

__attribute__((target("avx2,fma"))) static void exp_avx2(float* x, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) x[i] = std::exp(x[i]);
}

void exp_inplace(float* x, int n) {
  if (g_simd) return exp_avx2(x, n);
  for (int i = 0; i < n; ++i) x[i] = std::exp(x[i]);
}

float dot(const float* a, const float* b, int n) {
  if (g_simd) return dot_avx2(a, b, n);
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float a, const float* x, float* y, int n) {
  if (g_simd) return axpy_avx2(a, x, y, n);
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void rmsnorm(const float* x, const float* g, int n, float eps, float* out) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int i = 0; i < n; ++i) out[i] = x[i] * inv * g[i];
}

void softmax(float* x, int n) {
  const float mx = *std::max_element(x, x + n);
  double s = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    s += x[i];
  }
  const float inv = static_cast<float>(1.0 / s);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, int n, float* out) {
  for (int i = 0; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

void rope(float* x, int heads, int d, int pos, const float* inv_freq) {
  const int half = d / 2;
  for (int i = 0; i < half; ++i) {
    // Angles in double: positions reach 1e5 and fp32 angle error would grow with them.
    const double ang = static_cast<double>(pos) * inv_freq[i];
    const float c = static_cast<float>(std::cos(ang)), s = static_cast<float>(std::sin(ang));
    for (int h = 0; h < heads; ++h) {
      float* v = x + h * d;
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
}

void moe_route(const float* logits, int e, int k, int* idx, float* weight) {
  std::vector<int> order(e);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return logits[a] > logits[b]; });
  // softmax over all E then renormalizing over the top k equals softmax over the top k.
  const float mx = logits[order[0]];
  double s = 0;
  for (int i = 0; i < k; ++i) s += std::exp(static_cast<double>(logits[order[i]]) - mx);
  for (int i = 0; i < k; ++i) {
    idx[i] = order[i];
    weight[i] = static_cast<float>(std::exp(static_cast<double>(logits[order[i]]) - mx) / s);
  }
}

}  // namespace bg
