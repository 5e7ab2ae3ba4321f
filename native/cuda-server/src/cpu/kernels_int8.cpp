// Int8 (Q8_0-style) weights: quantization, packing and the GEMM.
//
// A block is 32 weights of one output row along K with one fp32 scale d (w ~= q * d, q in
// [-127, 127]); the activations of each GEMM call are quantized per row the same way, so the
// dot product of two blocks is an exact int32 sum scaled by d_x * d_w. On AVX2 that sum is
// ggml's sign trick: _mm256_maddubs_epi16 multiplies unsigned by signed bytes, so the
// activation goes in as |x| and the weight as w * sign(x) (the product is unchanged), pairs
// summed to int16 (at most 2 * 127 * 127, no saturation), then _mm256_madd_epi16 against ones
// sums those to int32. Per 32 weights that is one block's scaled FMA into fp32 lanes.
#include "kernels_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "error.h"
#include "simd_reduce.h"

namespace bg {

namespace {

constexpr int QK = PackedMatrix::QK;
constexpr int QR = PackedMatrix::QR;
constexpr int MRQ = 3;   // activation rows per tile call: 3 x 4 accumulators
constexpr int MBQ = 96;  // activation rows per thread tile
constexpr int GB = 16;   // weight groups (of 4 rows) per thread tile: 64 output columns
// Bytes ahead of the block in use that the tile prefetches its weights (and 1/8 of that its
// scales). A thread's groups are one sequential stream, so this runs into the next group too.
// At batch 1 the GEMM is bound by how many misses a core keeps in flight; with the hardware
// prefetcher alone, decode was 3-15% slower on a 2-core Zen 3 (512 and 2048 were no better).
constexpr int PF_DIST = 1024;

__attribute__((target("avx2,fma"))) void quantize_avx2(const float* x, int k, int8_t* q,
                                                        float* d) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  for (int b = 0; b < k / QK; ++b) {
    const float* xb = x + static_cast<size_t>(b) * QK;
    const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8),
                 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    const __m256 mx = _mm256_max_ps(
        _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
        _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float amax = hmax8(mx);
    const float dd = amax / 127.f, id = dd != 0.f ? 1.f / dd : 0.f;
    d[b] = dd;
    const __m256 iv = _mm256_set1_ps(id);
    // Round to nearest even (the default MXCSR mode), as std::nearbyint in the scalar twin.
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, iv));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, iv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, iv));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, iv));
    // The packs work within 128-bit lanes; the permute puts the 4-byte groups back in order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + static_cast<size_t>(b) * QK),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
}

void quantize_scalar(const float* x, int k, int8_t* q, float* d) {
  for (int b = 0; b < k / QK; ++b) {
    const float* xb = x + static_cast<size_t>(b) * QK;
    float amax = 0.f;
    for (int i = 0; i < QK; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float dd = amax / 127.f, id = dd != 0.f ? 1.f / dd : 0.f;
    d[b] = dd;
    for (int i = 0; i < QK; ++i) {
      const float v = std::nearbyint(xb[i] * id);
      q[static_cast<size_t>(b) * QK + i] = static_cast<int8_t>(std::clamp(v, -127.f, 127.f));
    }
  }
}

void quantize(const float* x, int k, int8_t* q, float* d, bool simd) {
  if (simd) return quantize_avx2(x, k, q, d);
  quantize_scalar(x, k, q, d);
}

// Y[r, c] (r < R, c < cols) for R quantized activation rows (xq rows nb * 32 bytes apart, xd
// rows nb apart) against one weight group (4 rows, nb blocks), over all of K. Accumulators are
// named scalars for the reason given at the fp32 micro-kernel (kernels.cpp). BG_Q8_DOT(xa, s)
// is the int32 block sum in 8 lanes: AVX2 maddubs + madd against ones, or one vpdpbusd with
// AVX512_VNNI; the lanes hold the same exact integers either way.
#define BG_Q8_COL(r, c)                                                                  \
  {                                                                                      \
    const __m256i s = _mm256_sign_epi8(w##c, xv);                                        \
    const __m256i p = BG_Q8_DOT(xa, s);                                                  \
    a##r##c = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(xs * wdb[c]), a##r##c); \
  }
#define BG_Q8_ROW(r)                                                                      \
  if constexpr (R > r) {                                                                  \
    const __m256i xv = _mm256_loadu_si256(                                                \
        reinterpret_cast<const __m256i*>(xq + (static_cast<size_t>(r) * nb + b) * QK));   \
    const __m256i xa = _mm256_sign_epi8(xv, xv);                                          \
    const float xs = xd[static_cast<size_t>(r) * nb + b];                                 \
    BG_Q8_COL(r, 0) BG_Q8_COL(r, 1) BG_Q8_COL(r, 2) BG_Q8_COL(r, 3)                       \
  }
#define BG_Q8_STORE(r)                                                                    \
  if constexpr (R > r) {                                                                  \
    const float v[QR] = {hsum8(a##r##0), hsum8(a##r##1), hsum8(a##r##2), hsum8(a##r##3)}; \
    std::memcpy(y + static_cast<size_t>(r) * ldy, v, sizeof(float) * cols);              \
  }
#define BG_Q8_TILE(NAME, TARGET)                                                                \
  template <int R>                                                                              \
  __attribute__((target(TARGET))) void NAME(const int8_t* xq, const float* xd, int nb,          \
                                            const int8_t* wq, const float* wd, float* y,        \
                                            int ldy, int cols) {                                \
    [[maybe_unused]] const __m256i ones = _mm256_set1_epi16(1);                                 \
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,    \
           a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;                    \
    for (int b = 0; b < nb; ++b) {                                                              \
      const int8_t* wb = wq + static_cast<size_t>(b) * QR * QK;                                 \
      const float* wdb = wd + static_cast<size_t>(b) * QR;                                      \
      _mm_prefetch(reinterpret_cast<const char*>(wb) + PF_DIST, _MM_HINT_T0);                   \
      _mm_prefetch(reinterpret_cast<const char*>(wb) + PF_DIST + 64, _MM_HINT_T0);              \
      _mm_prefetch(reinterpret_cast<const char*>(wdb) + PF_DIST / 8, _MM_HINT_T0);              \
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb));              \
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + QK));         \
      const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2 * QK));     \
      const __m256i w3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 3 * QK));     \
      BG_Q8_ROW(0) BG_Q8_ROW(1) BG_Q8_ROW(2)                                                    \
    }                                                                                           \
    BG_Q8_STORE(0) BG_Q8_STORE(1) BG_Q8_STORE(2)                                                \
  }

#define BG_Q8_DOT(xa, s) _mm256_madd_epi16(_mm256_maddubs_epi16(xa, s), ones)
BG_Q8_TILE(q8_tile_avx2, "avx2,fma")
#undef BG_Q8_DOT

#undef BG_Q8_COL
#undef BG_Q8_ROW
#undef BG_Q8_STORE
#undef BG_Q8_TILE

// AVX512_VNNI on 512-bit vectors: one register holds two output rows' blocks (64 contiguous
// bytes of a group), against the activation block broadcast to both halves, so one vpdpbusd
// does 64 multiply-adds. AVX-512 has no byte sign instruction, so the activation goes in as
// x + 128 (unsigned, x ^ 0x80) and the dot starts from -128 * sum(w) per lane, one vpdpbusd per
// weight register shared by all rows: the lanes end with the exact int32 sums of the AVX2 path
// (each lane 4 bytes of one row's block), scaled by the same xs * wd product and accumulated
// in the same order, and each half is summed like hsum8, so the results are the AVX2 path's
// bits. Up to 6 activation rows (12 accumulators) a call.
constexpr int MRQ512 = 6;

#pragma GCC diagnostic push  // GCC 12's AVX-512 intrinsics pass undefined vectors through
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <int R>
__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))) void q8_tile_vnni512(
    const int8_t* xq, const float* xd, int nb, const int8_t* wq, const float* wd, float* y,
    int ldy, int cols) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80)), zero = _mm512_setzero_si512();
  const __m512i idx01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i idx23 = _mm512_add_epi32(idx01, _mm512_set1_epi32(2));
  __m512 a01[R], a23[R];
  for (int r = 0; r < R; ++r) a01[r] = a23[r] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const int8_t* wb = wq + static_cast<size_t>(b) * QR * QK;
    const float* wdb = wd + static_cast<size_t>(b) * QR;
    _mm_prefetch(reinterpret_cast<const char*>(wb) + PF_DIST, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wb) + PF_DIST + 64, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wdb) + PF_DIST / 8, _MM_HINT_T0);
    const __m512i w01 = _mm512_loadu_si512(wb), w23 = _mm512_loadu_si512(wb + 2 * QK);
    const __m512i n01 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, flip, w01));
    const __m512i n23 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, flip, w23));
    const __m512 d4 = _mm512_broadcast_f32x4(_mm_loadu_ps(wdb));
    const __m512 d01 = _mm512_permutexvar_ps(idx01, d4), d23 = _mm512_permutexvar_ps(idx23, d4);
    for (int r = 0; r < R; ++r) {
      const __m256i xv = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(xq + (static_cast<size_t>(r) * nb + b) * QK));
      const __m512i xu = _mm512_xor_si512(_mm512_broadcast_i64x4(xv), flip);
      const __m512 xs = _mm512_set1_ps(xd[static_cast<size_t>(r) * nb + b]);
      a01[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(n01, xu, w01)),
                               _mm512_mul_ps(xs, d01), a01[r]);
      a23[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(n23, xu, w23)),
                               _mm512_mul_ps(xs, d23), a23[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m256 a01hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a01[r]), 1));
    const __m256 a23hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a23[r]), 1));
    const float v[QR] = {hsum8(_mm512_castps512_ps256(a01[r])), hsum8(a01hi),
                         hsum8(_mm512_castps512_ps256(a23[r])), hsum8(a23hi)};
    std::memcpy(y + static_cast<size_t>(r) * ldy, v, sizeof(float) * cols);
  }
}
#pragma GCC diagnostic pop

// The scalar twin: exact int32 block sums, scaled and accumulated in fp32.
template <int R>
void q8_tile_scalar(const int8_t* xq, const float* xd, int nb, const int8_t* wq,
                    const float* wd, float* y, int ldy, int cols) {
  float acc[R][QR] = {};
  for (int b = 0; b < nb; ++b) {
    const int8_t* wb = wq + static_cast<size_t>(b) * QR * QK;
    for (int r = 0; r < R; ++r) {
      const int8_t* xb = xq + (static_cast<size_t>(r) * nb + b) * QK;
      const float xs = xd[static_cast<size_t>(r) * nb + b];
      for (int c = 0; c < QR; ++c) {
        int32_t s = 0;
        for (int i = 0; i < QK; ++i) s += int32_t{xb[i]} * wb[c * QK + i];
        acc[r][c] += static_cast<float>(s) * (xs * wd[static_cast<size_t>(b) * QR + c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < cols; ++c) y[static_cast<size_t>(r) * ldy + c] = acc[r][c];
}

using TileFn = void (*)(const int8_t*, const float*, int, const int8_t*, const float*, float*,
                        int, int);

// A tile family: fn[rows - 1] for rows 1..mr.
struct Tiles {
  const TileFn* fn;
  int mr;
};

constexpr std::array<TileFn, MRQ> kQ8Avx2{q8_tile_avx2<1>, q8_tile_avx2<2>, q8_tile_avx2<3>};
constexpr std::array<TileFn, MRQ> kQ8Scalar{q8_tile_scalar<1>, q8_tile_scalar<2>,
                                            q8_tile_scalar<3>};
constexpr std::array<TileFn, MRQ512> kQ8Vnni512{q8_tile_vnni512<1>, q8_tile_vnni512<2>,
                                                q8_tile_vnni512<3>, q8_tile_vnni512<4>,
                                                q8_tile_vnni512<5>, q8_tile_vnni512<6>};

Tiles tiles_for(bool simd) {
  if (simd && avx512_vnni_enabled()) return {kQ8Vnni512.data(), MRQ512};
  return {(simd ? kQ8Avx2 : kQ8Scalar).data(), MRQ};
}

}  // namespace

void quantize_q8(const float* x, int k, int8_t* q, float* d) {
  BG_ASSERT(k % QK == 0);
  quantize(x, k, q, d, simd_enabled());
}

void int8_set_row(PackedMatrix& w, int row, const float* src) {
  const int nb = w.k / QK;
  std::vector<int8_t> q(w.k);
  std::vector<float> d(nb);
  quantize_q8(src, w.k, q.data(), d.data());
  const size_t g = row / QR, r = row % QR;
  for (int b = 0; b < nb; ++b) {
    std::memcpy(w.q.data() + ((g * nb + b) * QR + r) * QK, q.data() + static_cast<size_t>(b) * QK, QK);
    w.scale[(g * nb + b) * QR + r] = d[b];
  }
}

void int8_row(const PackedMatrix& w, int row, float* out) {
  const int nb = w.k / QK;
  const size_t g = row / QR, r = row % QR;
  for (int b = 0; b < nb; ++b) {
    const int8_t* qb = w.q.data() + ((g * nb + b) * QR + r) * QK;
    const float d = w.scale[(g * nb + b) * QR + r];
    for (int i = 0; i < QK; ++i) out[static_cast<size_t>(b) * QK + i] = qb[i] * d;
  }
}

float int8_row_dot(const PackedMatrix& w, int row, const float* x) {
  const int nb = w.k / QK;
  std::vector<int8_t> xq(w.k);
  std::vector<float> xd(nb);
  quantize_q8(x, w.k, xq.data(), xd.data());
  const size_t g = row / QR, r = row % QR;
  float s = 0.f;
  for (int b = 0; b < nb; ++b) {
    const int8_t* qb = w.q.data() + ((g * nb + b) * QR + r) * QK;
    int32_t t = 0;
    for (int i = 0; i < QK; ++i) t += int32_t{xq[static_cast<size_t>(b) * QK + i]} * qb[i];
    s += static_cast<float>(t) * (xd[b] * w.scale[(g * nb + b) * QR + r]);
  }
  return s;
}

void gemm_int8(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy,
               ThreadPool& pool, bool simd) {
  const int k = w.k, nb = k / QK;
  // The caller's quantized activations, grown to the largest call. The workers get pointers:
  // a thread_local named inside the lambda would be each worker's own.
  thread_local std::vector<int8_t, AlignedAlloc<int8_t>> xq_buf;
  thread_local std::vector<float> xd_buf;
  xq_buf.resize(static_cast<size_t>(m) * k);
  xd_buf.resize(static_cast<size_t>(m) * nb);
  int8_t* xq = xq_buf.data();
  float* xd = xd_buf.data();
  pool.parallel_for(m, [&](int b, int e) {
    for (int r = b; r < e; ++r)
      quantize(x + static_cast<size_t>(r) * ldx, k, xq + static_cast<size_t>(r) * k,
               xd + static_cast<size_t>(r) * nb, simd);
  });
  const Tiles tl = tiles_for(simd);
  const int groups = (w.n + QR - 1) / QR;
  const int gbs = (groups + GB - 1) / GB, mbs = (m + MBQ - 1) / MBQ;
  // Tiles ordered group-block-major, as in the fp32 GEMM: a thread's range shares weights.
  pool.parallel_for(gbs * mbs, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      const int m0 = (t % mbs) * MBQ, m1 = std::min(m, m0 + MBQ);
      const int g0 = (t / mbs) * GB, g1 = std::min(groups, g0 + GB);
      for (int g = g0; g < g1; ++g) {
        const int8_t* wq = w.q.data() + static_cast<size_t>(g) * nb * QR * QK;
        const float* wd = w.scale.data() + static_cast<size_t>(g) * nb * QR;
        const int cols = std::min(QR, w.n - g * QR);
        for (int r = m0; r < m1; r += tl.mr) {
          const int rows = std::min(tl.mr, m1 - r);
          tl.fn[rows - 1](xq + static_cast<size_t>(r) * k, xd + static_cast<size_t>(r) * nb,
                               nb, wq, wd, y + static_cast<size_t>(r) * ldy + g * QR, ldy, cols);
        }
      }
    }
  });
}

}  // namespace bg
