#include "kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "dtype.h"
#include "error.h"
#include "kernels_int8.h"
#include "simd_reduce.h"

namespace bg {

// ---------------------------------------------------------------------------------------------
// dispatch

// __builtin_cpu_supports(feature) on x86, false elsewhere (the scalar paths only).
#if defined(__x86_64__) || defined(__i386__)
#define BG_CPU(feature) (__builtin_cpu_init(), __builtin_cpu_supports(feature) != 0)
#else
#define BG_CPU(feature) false
#endif

static bool cpu_has_avx2() { return BG_CPU("avx2") && BG_CPU("fma"); }

static bool g_simd = cpu_has_avx2();
// The f16 panels' widening needs F16C beside AVX2 (every AVX2 CPU so far has it).
static const bool g_f16c = BG_CPU("f16c");
bool simd_enabled() { return g_simd; }
void set_simd(bool on) { g_simd = on && cpu_has_avx2(); }

bool avx512_vnni_supported() {
  return cpu_has_avx2() && BG_CPU("avx512f") && BG_CPU("avx512bw") && BG_CPU("avx512vl") &&
         BG_CPU("avx512vnni");
}

bool avx512_supported() { return cpu_has_avx2() && BG_CPU("avx512f"); }

static bool g_avx512 = avx512_supported();
bool avx512_enabled() { return g_simd && g_avx512; }
void set_avx512(bool on) { g_avx512 = on && avx512_supported(); }

bool bf16_dot_supported() {
  return avx512_supported() && BG_CPU("avx512bw") && BG_CPU("avx512bf16");
}
static bool g_bf16_dot = bf16_dot_supported();
bool bf16_dot_enabled() { return g_simd && g_bf16_dot; }
void set_bf16_dot(bool on) { g_bf16_dot = on && bf16_dot_supported(); }

static bool g_vnni = avx512_vnni_supported();
bool avx512_vnni_enabled() { return g_simd && g_vnni; }
void set_avx512_vnni(bool on) { g_vnni = on && avx512_vnni_supported(); }

// ---------------------------------------------------------------------------------------------
// weight types and packing

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::F32: return "f32";
    case WeightType::BF16: return "bf16";
    case WeightType::F16: return "f16";
    case WeightType::Int8: return "int8";
  }
  return "?";
}

bool weight_type_from_name(const std::string& s, WeightType* t) {
  for (WeightType c : {WeightType::F32, WeightType::BF16, WeightType::F16, WeightType::Int8})
    if (s == weight_type_name(c)) {
      *t = c;
      return true;
    }
  return false;
}

bool activations_from_name(const std::string& s, bool* bf16) {
  if (s != "f32" && s != "bf16") return false;
  *bf16 = s == "bf16";
  return true;
}

PackedMatrix PackedMatrix::zeros(int n, int k, WeightType type) {
  PackedMatrix p;
  p.type = type;
  p.n = n;
  p.k = k;
  const size_t panels = static_cast<size_t>(n + NR - 1) / NR;
  switch (type) {
    case WeightType::F32: p.data.assign(panels * k * NR, 0.f); break;
    case WeightType::BF16:
    case WeightType::F16: p.half.assign(panels * k * NR, 0); break;
    case WeightType::Int8: {
      if (k % QK != 0)
        throw Error("int8 weights need K (the inner dimension) to be a multiple of " +
                    std::to_string(QK) + ", got " + std::to_string(k));
      const size_t groups = static_cast<size_t>(n + QR - 1) / QR;
      p.q.assign(groups * k * QR, 0);
      p.scale.assign(groups * (k / QK) * QR, 0.f);
      break;
    }
  }
  return p;
}

PackedMatrix PackedMatrix::pack(const float* w, int n, int k, WeightType type) {
  PackedMatrix p = zeros(n, k, type);
  for (int r = 0; r < n; ++r) p.set_row(r, w + static_cast<size_t>(r) * k);
  return p;
}

void PackedMatrix::set_row(int row, const float* w) {
  const size_t panel = static_cast<size_t>(row / NR) * k * NR;
  switch (type) {
    case WeightType::F32: {
      float* dst = data.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) dst[static_cast<size_t>(i) * NR] = w[i];
      break;
    }
    case WeightType::BF16: {
      uint16_t* dst = half.data() + panel + bf16_slot(row % NR);
      for (int i = 0; i < k; ++i) dst[static_cast<size_t>(i) * NR] = f32_to_bf16(w[i]);
      break;
    }
    case WeightType::F16: {
      uint16_t* dst = half.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) dst[static_cast<size_t>(i) * NR] = f32_to_f16(w[i]);
      break;
    }
    case WeightType::Int8: int8_set_row(*this, row, w); break;
  }
}

float PackedMatrix::row_dot(int row, const float* x) const {
  const size_t panel = static_cast<size_t>(row / NR) * k * NR;
  float s = 0.f;
  switch (type) {
    case WeightType::F32: {
      const float* p = data.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) s += p[static_cast<size_t>(i) * NR] * x[i];
      break;
    }
    case WeightType::BF16: {
      const uint16_t* p = half.data() + panel + bf16_slot(row % NR);
      for (int i = 0; i < k; ++i) {
        const float xi = bf16_activations ? bf16_to_f32(f32_to_bf16(x[i])) : x[i];
        s += bf16_to_f32(p[static_cast<size_t>(i) * NR]) * xi;
      }
      break;
    }
    case WeightType::F16: {
      const uint16_t* p = half.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) s += f16_to_f32(p[static_cast<size_t>(i) * NR]) * x[i];
      break;
    }
    case WeightType::Int8: s = int8_row_dot(*this, row, x); break;
  }
  return s;
}

void PackedMatrix::row(int row, float* out) const {
  const size_t panel = static_cast<size_t>(row / NR) * k * NR;
  switch (type) {
    case WeightType::F32: {
      const float* p = data.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) out[i] = p[static_cast<size_t>(i) * NR];
      break;
    }
    case WeightType::BF16: {
      const uint16_t* p = half.data() + panel + bf16_slot(row % NR);
      for (int i = 0; i < k; ++i) out[i] = bf16_to_f32(p[static_cast<size_t>(i) * NR]);
      break;
    }
    case WeightType::F16: {
      const uint16_t* p = half.data() + panel + row % NR;
      for (int i = 0; i < k; ++i) out[i] = f16_to_f32(p[static_cast<size_t>(i) * NR]);
      break;
    }
    case WeightType::Int8: int8_row(*this, row, out); break;
  }
}

size_t PackedMatrix::bytes() const {
  return data.size() * sizeof(float) + half.size() * sizeof(uint16_t) + q.size() +
         scale.size() * sizeof(float);
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

// The same tile over a bf16 panel: each panel row (16 bf16, 32 bytes) is widened to two fp32
// vectors by interleaving zeros below its 16 bits (bf16 is the top half of an fp32), one
// shuffle per 8 columns; the slot order of the panel (PackedMatrix) makes that interleave
// yield columns 0-7 and 8-15 in order. Shuffles run beside the FMAs, so a 6-row tile computes
// at the fp32 kernel's rate on half the weight bytes.
template <int R>
__attribute__((target("avx2,fma"))) void micro_bf16_avx2(const float* x, int ldx,
                                                          const uint16_t* p, int ldp, int kc,
                                                          float* c, int ldc, bool load_c) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
         a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  BG_LOAD(0) BG_LOAD(1) BG_LOAD(2) BG_LOAD(3) BG_LOAD(4) BG_LOAD(5)
  const __m256i zero = _mm256_setzero_si256();
  int i = 0;
  if constexpr (R == 1) {
    // One row has one FMA chain per 8 columns, bound by FMA latency: a second chain over odd
    // k (a10, a11, free when R == 1) keeps decode streaming weights rather than waiting.
    for (; i + 2 <= kc; i += 2) {
      const __m256i h0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + static_cast<size_t>(i) * ldp));
      const __m256i h1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + static_cast<size_t>(i + 1) * ldp));
      const __m256 x0 = _mm256_broadcast_ss(x + i), x1 = _mm256_broadcast_ss(x + i + 1);
      a00 = _mm256_fmadd_ps(x0, _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, h0)), a00);
      a01 = _mm256_fmadd_ps(x0, _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, h0)), a01);
      a10 = _mm256_fmadd_ps(x1, _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, h1)), a10);
      a11 = _mm256_fmadd_ps(x1, _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, h1)), a11);
    }
  }
  for (; i < kc; ++i) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + static_cast<size_t>(i) * ldp));
    const __m256 w0 = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, h));
    const __m256 w1 = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, h));
    BG_ROW(0) BG_ROW(1) BG_ROW(2) BG_ROW(3) BG_ROW(4) BG_ROW(5)
  }
  if constexpr (R == 1) {
    a00 = _mm256_add_ps(a00, a10);
    a01 = _mm256_add_ps(a01, a11);
  }
  BG_STORE(0) BG_STORE(1) BG_STORE(2) BG_STORE(3) BG_STORE(4) BG_STORE(5)
}

// IEEE half panels (natural column order): F16C widens 8 columns per instruction. As the bf16
// tile, with the one-row form's second FMA chain.
struct F16 {
  uint16_t bits;
};

// 8 halves of panel row i from column j, widened (a function, not a lambda: the target
// attribute must reach the intrinsic).
__attribute__((target("avx2,fma,f16c"))) inline __m256 half8(const uint16_t* p, int ldp, int i,
                                                             int j) {
  return _mm256_cvtph_ps(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + static_cast<size_t>(i) * ldp + j)));
}

template <int R>
__attribute__((target("avx2,fma,f16c"))) void micro_f16_avx2(const float* x, int ldx,
                                                              const F16* ph, int ldp, int kc,
                                                              float* c, int ldc, bool load_c) {
  const uint16_t* p = reinterpret_cast<const uint16_t*>(ph);
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
         a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  BG_LOAD(0) BG_LOAD(1) BG_LOAD(2) BG_LOAD(3) BG_LOAD(4) BG_LOAD(5)
  int i = 0;
  if constexpr (R == 1) {
    for (; i + 2 <= kc; i += 2) {
      const __m256 x0 = _mm256_broadcast_ss(x + i), x1 = _mm256_broadcast_ss(x + i + 1);
      a00 = _mm256_fmadd_ps(x0, half8(p, ldp, i, 0), a00);
      a01 = _mm256_fmadd_ps(x0, half8(p, ldp, i, 8), a01);
      a10 = _mm256_fmadd_ps(x1, half8(p, ldp, i + 1, 0), a10);
      a11 = _mm256_fmadd_ps(x1, half8(p, ldp, i + 1, 8), a11);
    }
  }
  for (; i < kc; ++i) {
    const __m256 w0 = half8(p, ldp, i, 0), w1 = half8(p, ldp, i, 8);
    BG_ROW(0) BG_ROW(1) BG_ROW(2) BG_ROW(3) BG_ROW(4) BG_ROW(5)
  }
  if constexpr (R == 1) {
    a00 = _mm256_add_ps(a00, a10);
    a01 = _mm256_add_ps(a01, a11);
  }
  BG_STORE(0) BG_STORE(1) BG_STORE(2) BG_STORE(3) BG_STORE(4) BG_STORE(5)
}

#undef BG_ROW
#undef BG_LOAD
#undef BG_STORE

// The scalar twin of micro_f16_avx2.
template <int R>
void micro_f16_scalar(const float* x, int ldx, const F16* p, int ldp, int kc, float* c, int ldc,
                      bool load_c) {
  float acc[R][NR], w[NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = load_c ? c[r * ldc + j] : 0.f;
  for (int i = 0; i < kc; ++i) {
    for (int j = 0; j < NR; ++j) w[j] = f16_to_f32(p[static_cast<size_t>(i) * ldp + j].bits);
    for (int r = 0; r < R; ++r) {
      const float xv = x[static_cast<size_t>(r) * ldx + i];
      for (int j = 0; j < NR; ++j) acc[r][j] += xv * w[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
}

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

// The AVX-512 tile, one kernel for every 16-bit and fp32 panel: a panel row (16 columns) is
// one 16-lane vector, so a row of the tile costs one FMA per panel row where AVX2 needs two,
// and up to MR512 = 12 rows give the 8+ independent chains that two FMA pipes of 4-cycle
// latency need (6 rows leave them idle a quarter of the time). Each column is still one
// sequential FMA chain over K, as in the AVX2 kernels (and the 16-bit one-row form keeps their
// second chain over odd K), so every path gives the AVX2 path's bits. A loader widens panel
// row i to fp32: a plain load (f32), a zero-extend and shift (bf16: its lanes then come out in
// the panel's slot order, so bf16 accumulators are permuted back when stored; bf16_slot is its
// own inverse, so one index vector serves loading and storing), or F16 conversion (f16).
#define BG_T512 __attribute__((always_inline, target("avx2,fma,f16c,avx512f"))) inline
struct Row512F32 {
  using T = float;
  static constexpr bool kTwoChains = false, kSlotted = false;
  BG_T512 static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};
// The zero-masked (maskz, all lanes) forms compute the same as the plain ones, whose
// _mm512_undefined pass-through sets off GCC 12's -Wmaybe-uninitialized.
struct Row512Bf16 {
  using T = uint16_t;
  static constexpr bool kTwoChains = true, kSlotted = true;
  BG_T512 static __m512 load(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(
        0xFFFF,
        _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))),
        16));
  }
};
struct Row512F16 {
  using T = F16;
  static constexpr bool kTwoChains = true, kSlotted = false;
  BG_T512 static __m512 load(const F16* p) {
    return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
#undef BG_T512

constexpr int MR512 = 12;

template <class L, int R>
__attribute__((target("avx2,fma,f16c,avx512f"))) void micro_avx512(const float* x, int ldx,
                                                                    const typename L::T* p,
                                                                    int ldp, int kc, float* c,
                                                                    int ldc, bool load_c) {
  const __m512i slot = _mm512_setr_epi32(bf16_slot(0), bf16_slot(1), bf16_slot(2), bf16_slot(3),
                                         bf16_slot(4), bf16_slot(5), bf16_slot(6), bf16_slot(7),
                                         bf16_slot(8), bf16_slot(9), bf16_slot(10), bf16_slot(11),
                                         bf16_slot(12), bf16_slot(13), bf16_slot(14), bf16_slot(15));
  __m512 a[R], odd = _mm512_setzero_ps();
  for (int r = 0; r < R; ++r) {
    if (!load_c) {
      a[r] = _mm512_setzero_ps();
    } else {
      a[r] = _mm512_loadu_ps(c + r * ldc);
      if constexpr (L::kSlotted) a[r] = _mm512_maskz_permutexvar_ps(0xFFFF, slot, a[r]);
    }
  }
  int i = 0;
  if constexpr (R == 1 && L::kTwoChains)
    for (; i + 2 <= kc; i += 2) {
      a[0] = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), L::load(p + static_cast<size_t>(i) * ldp), a[0]);
      odd = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 1]), L::load(p + static_cast<size_t>(i + 1) * ldp),
                            odd);
    }
  for (; i < kc; ++i) {
    const __m512 w = L::load(p + static_cast<size_t>(i) * ldp);
    for (int r = 0; r < R; ++r)
      a[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[static_cast<size_t>(r) * ldx + i]), w, a[r]);
  }
  if constexpr (R == 1 && L::kTwoChains) a[0] = _mm512_add_ps(a[0], odd);
  for (int r = 0; r < R; ++r) {
    if constexpr (L::kSlotted) a[r] = _mm512_maskz_permutexvar_ps(0xFFFF, slot, a[r]);
    _mm512_storeu_ps(c + r * ldc, a[r]);
  }
}

// The scalar twin of micro_bf16_avx2, reading the same slot order.
template <int R>
void micro_bf16_scalar(const float* x, int ldx, const uint16_t* p, int ldp, int kc, float* c,
                       int ldc, bool load_c) {
  float acc[R][NR], w[NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = load_c ? c[r * ldc + j] : 0.f;
  for (int i = 0; i < kc; ++i) {
    for (int j = 0; j < NR; ++j) w[j] = bf16_to_f32(p[static_cast<size_t>(i) * ldp + bf16_slot(j)]);
    for (int r = 0; r < R; ++r) {
      const float xv = x[static_cast<size_t>(r) * ldx + i];
      for (int j = 0; j < NR; ++j) acc[r][j] += xv * w[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
}

// A micro-kernel over activations of type X (fp32, or bf16 pairs for the dot-product path)
// and panels of T.
template <class T, class X = float>
using MicroFnT = void (*)(const X*, int, const T*, int, int, float*, int, bool);

// A kernel family: its instances by tile height, fn[rows - 1] for rows 1..mr, as tables in
// read-only data; the GEMM looks one up per micro-kernel call.
template <class T, class X = float>
struct Micro {
  const MicroFnT<T, X>* fn;
  int mr;
};

#define BG_ROWS_TABLE(name, fn) \
  constexpr std::array name{fn<1>, fn<2>, fn<3>, fn<4>, fn<5>, fn<6>};
BG_ROWS_TABLE(kBf16Avx2, micro_bf16_avx2)
BG_ROWS_TABLE(kBf16Scalar, micro_bf16_scalar)
BG_ROWS_TABLE(kF32Avx2, micro_avx2)
BG_ROWS_TABLE(kF32Scalar, micro_scalar)
BG_ROWS_TABLE(kF16Avx2, micro_f16_avx2)
BG_ROWS_TABLE(kF16Scalar, micro_f16_scalar)
#undef BG_ROWS_TABLE
static_assert(kF32Avx2.size() == MR);

template <class L, size_t... I>
constexpr std::array<MicroFnT<typename L::T>, sizeof...(I)> rows512(std::index_sequence<I...>) {
  return {micro_avx512<L, static_cast<int>(I) + 1>...};
}
constexpr auto kF32Avx512 = rows512<Row512F32>(std::make_index_sequence<MR512>{});
constexpr auto kBf16Avx512 = rows512<Row512Bf16>(std::make_index_sequence<MR512>{});
constexpr auto kF16Avx512 = rows512<Row512F16>(std::make_index_sequence<MR512>{});

Micro<float> micro_t(const float*, bool simd) {
  if (simd && avx512_enabled()) return {kF32Avx512.data(), MR512};
  return {(simd ? kF32Avx2 : kF32Scalar).data(), MR};
}
Micro<uint16_t> micro_t(const uint16_t*, bool simd) {
  if (simd && avx512_enabled()) return {kBf16Avx512.data(), MR512};
  return {(simd ? kBf16Avx2 : kBf16Scalar).data(), MR};
}
Micro<F16> micro_t(const F16*, bool simd) {
  if (simd && avx512_enabled()) return {kF16Avx512.data(), MR512};
  return {(simd && g_f16c ? kF16Avx2 : kF16Scalar).data(), MR};
}

// The bf16 dot-product tile (AVX512_BF16, as llama.cpp's bf16 path): activations rounded to
// bf16 and stored as (x[k], x[k+1]) pairs, one 32-bit broadcast per row and pair of K; two
// panel rows (64 contiguous bytes) permuted into (w[k][j], w[k+1][j]) pairs in natural column
// order (undoing the slot order); one vdpbf16ps per row adds both products to each column.
// Twice the FMA kernel's multiply-adds per instruction. An odd last K pairs with zeros (the
// activations are padded to even K, the panel's second row is masked off).
template <int R>
__attribute__((target("avx2,fma,avx512f,avx512bw,avx512bf16"))) void micro_dpbf16(
    const uint16_t* x, int ldx, const uint16_t* p, int ldp, int kc, float* c, int ldc,
    bool load_c) {
  alignas(64) static constexpr uint16_t kPairIdx[32] = {
      bf16_slot(0),  16 + bf16_slot(0),  bf16_slot(1),  16 + bf16_slot(1),  bf16_slot(2),
      16 + bf16_slot(2),  bf16_slot(3),  16 + bf16_slot(3),  bf16_slot(4),  16 + bf16_slot(4),
      bf16_slot(5),  16 + bf16_slot(5),  bf16_slot(6),  16 + bf16_slot(6),  bf16_slot(7),
      16 + bf16_slot(7),  bf16_slot(8),  16 + bf16_slot(8),  bf16_slot(9),  16 + bf16_slot(9),
      bf16_slot(10), 16 + bf16_slot(10), bf16_slot(11), 16 + bf16_slot(11), bf16_slot(12),
      16 + bf16_slot(12), bf16_slot(13), 16 + bf16_slot(13), bf16_slot(14), 16 + bf16_slot(14),
      bf16_slot(15), 16 + bf16_slot(15)};
  const __m512i idx = _mm512_load_si512(kPairIdx);
  __m512 a[R];
  for (int r = 0; r < R; ++r) a[r] = load_c ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
  int i = 0;
  for (; i + 2 <= kc; i += 2) {
    const __m512bh w = reinterpret_cast<__m512bh>(
        _mm512_permutexvar_epi16(idx, _mm512_loadu_si512(p + static_cast<size_t>(i) * ldp)));
    for (int r = 0; r < R; ++r) {
      int32_t xp;
      std::memcpy(&xp, x + static_cast<size_t>(r) * ldx + i, sizeof xp);
      a[r] = _mm512_dpbf16_ps(a[r], reinterpret_cast<__m512bh>(_mm512_set1_epi32(xp)), w);
    }
  }
  // An odd last K: only row i is loaded (a masked loop body kept GCC from holding the
  // accumulators in registers, halving the tile's rate).
  if (i < kc) {
    const __m512bh w = reinterpret_cast<__m512bh>(_mm512_permutexvar_epi16(
        idx, _mm512_maskz_loadu_epi16(0xFFFF, p + static_cast<size_t>(i) * ldp)));
    for (int r = 0; r < R; ++r) {
      int32_t xp;
      std::memcpy(&xp, x + static_cast<size_t>(r) * ldx + i, sizeof xp);
      a[r] = _mm512_dpbf16_ps(a[r], reinterpret_cast<__m512bh>(_mm512_set1_epi32(xp)), w);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(c + r * ldc, a[r]);
}

template <size_t... I>
constexpr std::array<MicroFnT<uint16_t, uint16_t>, sizeof...(I)> rows_dpbf16(
    std::index_sequence<I...>) {
  return {micro_dpbf16<static_cast<int>(I) + 1>...};
}
constexpr auto kDpBf16 = rows_dpbf16(std::make_index_sequence<MR512>{});

// One (rows m0..m1, panels p0..p1) tile of Y over panels of T at `w`, with kernel family mk.
template <class T, class X>
void gemm_tile(const X* x, int ldx, const T* w, int n, int k, float* y, int ldy, int m0,
               int m1, int p0, int p1, const Micro<T, X>& mk) {
  // Accumulator tile (MB, NBP * 16), kept contiguous per panel: (panel, row, 16).
  alignas(64) float ctile[NBP][MB][NR];
  // A last row that the 6-row kernels leave alone runs alone in every family (the 16-bit
  // one-row form sums odd K apart), so the AVX-512 path keeps the AVX2 path's bits.
  const int lone = (m1 - m0) % MR == 1 ? m1 - 1 : m1;
  for (int kc0 = 0; kc0 < k; kc0 += KC) {
    const int kc = std::min(KC, k - kc0);
    for (int p = p0; p < p1; ++p) {
      const T* panel = w + static_cast<size_t>(p) * k * NR + static_cast<size_t>(kc0) * NR;
      for (int m = m0, rows; m < m1; m += rows) {
        rows = std::min(mk.mr, (m < lone ? lone : m1) - m);
        mk.fn[rows - 1](x + static_cast<size_t>(m) * ldx + kc0, ldx, panel, NR, kc,
                        &ctile[p - p0][m - m0][0], NR, kc0 > 0);
      }
    }
  }
  for (int p = p0; p < p1; ++p) {
    const int c0 = p * NR, cols = std::min(NR, n - c0);
    for (int m = m0; m < m1; ++m)
      std::memcpy(y + static_cast<size_t>(m) * ldy + c0, &ctile[p - p0][m - m0][0],
                  sizeof(float) * cols);
  }
}

template <class T, class X>
void gemm_panels(const X* x, int m, int ldx, const T* w, int n, int k, float* y, int ldy,
                 ThreadPool& pool, const Micro<T, X>& mk) {
  const int panels = (n + NR - 1) / NR;
  const int nb = (panels + NBP - 1) / NBP, mbs = (m + MB - 1) / MB;
  // Tiles ordered panel-block-major so a thread's contiguous range shares weight panels.
  pool.parallel_for(nb * mbs, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      const int pb = t / mbs, mb = t % mbs;
      gemm_tile(x, ldx, w, n, k, y, ldy, mb * MB, std::min(m, (mb + 1) * MB), pb * NBP,
                std::min(panels, (pb + 1) * NBP), mk);
    }
  });
}

// dst (n,) = src rounded to bf16, 16 at a time (vcvtneps2bf16 rounds to nearest even, as
// f32_to_bf16 does; it flushes denormal inputs to zero, which vdpbf16ps does anyway).
__attribute__((target("avx2,fma,avx512f,avx512bw,avx512bf16"))) void to_bf16_avx512(
    const float* src, int n, uint16_t* dst) {
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i))));
  for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// Y = bf16(X) @ W^T for bf16 panels: X rounded to bf16 once per call, then the dot-product
// tile where the CPU has AVX512_BF16, else the rounded X widened back to fp32 through the
// usual kernels (the same products; sums paired differently).
void gemm_bf16_activations(const float* x, int m, int ldx, const PackedMatrix& w, float* y,
                           int ldy, ThreadPool& pool) {
  const int k = w.k, ke = (k + 1) & ~1;  // pairs: K rounded up to even, padded with zero
  const bool dot = bf16_dot_enabled();
  // The caller's rounded activations, grown to the largest call (the workers get a pointer).
  thread_local std::vector<uint16_t, AlignedAlloc<uint16_t>> xb_buf;
  thread_local std::vector<float, AlignedAlloc<float>> xr_buf;
  if (dot) xb_buf.resize(static_cast<size_t>(m) * ke);
  else xr_buf.resize(static_cast<size_t>(m) * k);
  uint16_t* xb = xb_buf.data();
  float* xr = xr_buf.data();
  pool.parallel_for(m, [&](int b, int e) {
    for (int r = b; r < e; ++r) {
      const float* src = x + static_cast<size_t>(r) * ldx;
      if (dot) {
        uint16_t* dst = xb + static_cast<size_t>(r) * ke;
        to_bf16_avx512(src, k, dst);
        if (ke > k) dst[k] = 0;
      } else {
        float* dst = xr + static_cast<size_t>(r) * k;
        for (int i = 0; i < k; ++i) dst[i] = bf16_to_f32(f32_to_bf16(src[i]));
      }
    }
  });
  if (dot)
    return gemm_panels(xb, m, ke, w.half.data(), w.n, k, y, ldy, pool,
                       Micro<uint16_t, uint16_t>{kDpBf16.data(), MR512});
  gemm_panels(xr, m, k, w.half.data(), w.n, k, y, ldy, pool, micro_t(w.half.data(), g_simd));
}

}  // namespace

void micro_gemm16(const float* x, int rows, int ldx, const float* p, int ldp, int k, float* c,
                  int ldc, bool accumulate) {
  const Micro<float> mk = micro_t(p, g_simd);
  for (int r = 0; r < rows; r += mk.mr) {
    const int n = std::min(mk.mr, rows - r);
    mk.fn[n - 1](x + static_cast<size_t>(r) * ldx, ldx, p, ldp, k,
                 c + static_cast<size_t>(r) * ldc, ldc, accumulate);
  }
}

void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy,
          ThreadPool& pool) {
  if (m <= 0) return;
  switch (w.type) {
    case WeightType::F32:
      return gemm_panels(x, m, ldx, w.data.data(), w.n, w.k, y, ldy, pool,
                         micro_t(w.data.data(), g_simd));
    case WeightType::BF16:
      if (w.bf16_activations) return gemm_bf16_activations(x, m, ldx, w, y, ldy, pool);
      return gemm_panels(x, m, ldx, w.half.data(), w.n, w.k, y, ldy, pool,
                         micro_t(w.half.data(), g_simd));
    case WeightType::F16: {
      const F16* h = reinterpret_cast<const F16*>(w.half.data());
      return gemm_panels(x, m, ldx, h, w.n, w.k, y, ldy, pool, micro_t(h, g_simd));
    }
    case WeightType::Int8: return gemm_int8(x, m, ldx, w, y, ldy, pool, g_simd);
  }
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

// exp(x): range reduction x = n ln2 + r, |r| <= ln2/2 (ln2 split in two for the
// reduction), degree-6 polynomial for e^r, 2^n through the exponent bits. Relative error
// ~2e-7; inputs below -87 give exactly 0 (masked scores: the true value is < 1.2e-38).
constexpr float kExpLo = -87.3f, kExpHi = 88.3f, kLog2e = 1.44269504088896341f,
                kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

__attribute__((target("avx2,fma"))) static __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(kExpLo));
  x = _mm256_min_ps(x, _mm256_set1_ps(kExpHi));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 y = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpPoly[i]));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 out = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  return _mm256_and_ps(out, _mm256_cmp_ps(x, _mm256_set1_ps(kExpLo), _CMP_GT_OQ));
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

// GCC 12's AVX-512 intrinsics (max, min, extract, ...) pass an undefined vector through as
// the unused merge source, which sets off -Wmaybe-uninitialized at every use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// exp8 on 16 lanes: the same operations, so the same value per lane.
__attribute__((target("avx2,fma,avx512f"))) static __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(kExpLo));
  x = _mm512_min_ps(x, _mm512_set1_ps(kExpHi));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 y = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kExpPoly[i]));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  const __m512i e = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __m512 out = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpLo), _CMP_GT_OQ), out);
}

// Horizontal max and sum of 16 lanes: the two halves combined, then reduced as 8.
__attribute__((target("avx2,fma,avx512f"))) static __m256 hi256(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}
__attribute__((target("avx2,fma,avx512f"))) static float hmax16(__m512 v) {
  return hmax8(_mm256_max_ps(_mm512_castps512_ps256(v), hi256(v)));
}
__attribute__((target("avx2,fma,avx512f"))) static float hsum16(__m512 v) {
  return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), hi256(v)));
}

// Online softmax, one row of 16 scores in a register: masked max, the running max and sum,
// the output row rescaled when the max grows, exp and sum in the same pass.
__attribute__((target("avx2,fma,avx512f"))) static void online_softmax16_avx512(
    float* s, int rows, const uint16_t* mask, float* m, float* l, float* o, int d) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < rows; ++i) {
    float* si = s + static_cast<size_t>(i) * 16;
    const __mmask16 k = mask[i];
    if (k == 0) {
      _mm512_storeu_ps(si, _mm512_setzero_ps());
      continue;
    }
    const __m512 v = _mm512_loadu_ps(si);
    const float mx = hmax16(_mm512_mask_mov_ps(_mm512_set1_ps(neg_inf), k, v));
    if (mx > m[i]) {
      if (m[i] != neg_inf) {
        const float corr = std::exp(m[i] - mx);
        l[i] *= corr;
        float* oi = o + static_cast<size_t>(i) * d;
        for (int j = 0; j < d; ++j) oi[j] *= corr;
      }
      m[i] = mx;
    }
    const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(v, _mm512_set1_ps(m[i]))));
    _mm512_storeu_ps(si, e);
    l[i] += hsum16(e);
  }
}

#pragma GCC diagnostic pop

void online_softmax16(float* s, int rows, const uint16_t* mask, float* m, float* l, float* o,
                      int d) {
  if (g_simd && g_avx512) return online_softmax16_avx512(s, rows, mask, m, l, o, d);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < rows; ++i) {
    float* si = s + static_cast<size_t>(i) * 16;
    float mx = neg_inf;
    for (int j = 0; j < 16; ++j) {
      if (!(mask[i] >> j & 1)) si[j] = neg_inf;
      mx = std::max(mx, si[j]);
    }
    if (mx > m[i]) {
      if (m[i] != neg_inf) {
        const float corr = std::exp(m[i] - mx);
        l[i] *= corr;
        for (int j = 0; j < d; ++j) o[static_cast<size_t>(i) * d + j] *= corr;
      }
      m[i] = mx;
    }
    if (m[i] == neg_inf) {  // nothing seen yet: every lane so far is masked
      for (int j = 0; j < 16; ++j) si[j] = 0.f;
      continue;
    }
    for (int j = 0; j < 16; ++j) si[j] -= m[i];  // masked lanes stay -inf: exp gives 0
    exp_inplace(si, 16);
    for (int j = 0; j < 16; ++j) l[i] += si[j];
  }
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

// silu(g) * u with exp8: at batch 1 the scalar std::exp was ~3% of a decode token.
__attribute__((target("avx2,fma"))) static void swiglu_avx2(const float* gate, const float* up,
                                                             int n, float* out) {
  const __m256 one = _mm256_set1_ps(1.f), neg = _mm256_set1_ps(-0.f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, neg))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

void swiglu(const float* gate, const float* up, int n, float* out) {
  if (g_simd) return swiglu_avx2(gate, up, n, out);
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
