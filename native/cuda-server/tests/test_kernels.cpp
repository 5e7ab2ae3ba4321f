// Every kernel against a plain reference, on both the AVX2 and the scalar path.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "backend.h"
#include "config.h"
#include "dtype.h"
#include "error.h"
#include "kernels.h"
#include "sampler.h"

namespace bg {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// |a - b| <= atol + rtol * |ref|, the llm.c tolerance form.
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, float atol,
                  float rtol) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - ref[i]), atol + rtol * std::fabs(ref[i])) << "at " << i;
}

// The kernel paths a CPU can take: scalar, AVX2 (AVX-512 off), and everything this CPU has
// (AVX-512F, VNNI, BF16 where present), each run against the references below.
enum class Path { Scalar, Avx2, Avx512 };

class SimdParam : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    const Path p = GetParam();
    set_simd(p != Path::Scalar);
    set_avx512(p == Path::Avx512);
    set_avx512_vnni(p == Path::Avx512);
    set_bf16_dot(p == Path::Avx512);
    if (p != Path::Scalar && !simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
    if (p == Path::Avx512 && !avx512_enabled())
      GTEST_SKIP() << "CPU lacks AVX512F: the AVX-512 paths were not run";
  }
  void TearDown() override {
    set_simd(true);
    set_avx512(true);
    set_avx512_vnni(true);
    set_bf16_dot(true);
  }
};

TEST_P(SimdParam, GemmMatchesReferenceOnRaggedShapes) {
  ThreadPool pool(2);
  // Shapes cross every tiling edge: M vs the 6- and 12-row micro-kernels and the 96-row tile,
  // N vs 16-column panels and 4-panel tiles, K vs the 256 K-slice.
  const int shapes[][3] = {{1, 16, 8},   {5, 17, 33},  {6, 64, 256}, {7, 100, 257},
                           {13, 65, 300}, {97, 130, 70}, {200, 48, 520}};
  for (const auto& s : shapes) {
    const int m = s[0], n = s[1], k = s[2];
    auto x = randn(static_cast<size_t>(m) * k, 1);   // (M, K)
    auto w = randn(static_cast<size_t>(n) * k, 2);   // (N, K)
    std::vector<float> ref(static_cast<size_t>(m) * n), got(static_cast<size_t>(m) * n);
    gemm_ref(x.data(), m, k, w.data(), n, ref.data());
    PackedMatrix p = PackedMatrix::pack(w.data(), n, k);
    gemm(x.data(), m, k, p, got.data(), n, pool);
    SCOPED_TRACE(::testing::Message() << "M=" << m << " N=" << n << " K=" << k);
    expect_close(got, ref, 1e-4f, 1e-4f);
    for (int r = 0; r < n; r += 7)
      EXPECT_NEAR(p.row_dot(r, x.data()), ref[r], 1e-3f);
  }
}

TEST_P(SimdParam, GemmHonoursStrides) {
  ThreadPool pool(2);
  const int m = 9, n = 20, k = 40, ldx = 50, ldy = 33;
  auto x = randn(static_cast<size_t>(m) * ldx, 3);  // (M, ldx), first K used
  auto w = randn(static_cast<size_t>(n) * k, 4);
  std::vector<float> xc(static_cast<size_t>(m) * k), ref(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < k; ++j) xc[i * k + j] = x[i * ldx + j];
  gemm_ref(xc.data(), m, k, w.data(), n, ref.data());
  std::vector<float> y(static_cast<size_t>(m) * ldy, 7.f);
  gemm(x.data(), m, ldx, PackedMatrix::pack(w.data(), n, k), y.data(), ldy, pool);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) EXPECT_NEAR(y[i * ldy + j], ref[i * n + j], 1e-4f);
    for (int j = n; j < ldy; ++j) EXPECT_EQ(y[i * ldy + j], 7.f) << "wrote past N";
  }
}

TEST_P(SimdParam, DotAndAxpy) {
  for (int n : {1, 7, 8, 15, 16, 17, 64, 100}) {
    auto a = randn(n, 5), b = randn(n, 6);
    double ref = 0;
    for (int i = 0; i < n; ++i) ref += static_cast<double>(a[i]) * b[i];
    EXPECT_NEAR(dot(a.data(), b.data(), n), ref, 1e-5 * n);
    auto y = b;
    axpy(0.5f, a.data(), y.data(), n);
    for (int i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[i], b[i] + 0.5f * a[i]);
  }
}

// 16-bit weights: the GEMM over bf16 (or f16) panels equals an fp64 product with the weights
// rounded to that type (read back through PackedMatrix::row), on every tiling edge and on K of
// any size.
TEST_P(SimdParam, HalfGemmsMatchReferenceOnRaggedShapes) {
  ThreadPool pool(2);
  const int shapes[][3] = {{1, 16, 8},   {1, 17, 33},   {2, 130, 64},  {5, 17, 33},
                           {6, 64, 256}, {7, 100, 257}, {13, 65, 300}, {97, 130, 70},
                           {200, 48, 520}};
  const struct {
    WeightType type;
    uint16_t (*round)(float);
  } types[] = {{WeightType::BF16, f32_to_bf16}, {WeightType::F16, f32_to_f16}};
  for (const auto& t : types)
    for (const auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      SCOPED_TRACE(::testing::Message() << weight_type_name(t.type) << " M=" << m << " N=" << n
                                        << " K=" << k);
      auto x = randn(static_cast<size_t>(m) * k, 11);
      auto w = randn(static_cast<size_t>(n) * k, 12);
      PackedMatrix p = PackedMatrix::pack(w.data(), n, k, t.type);
      EXPECT_EQ(p.bytes(), static_cast<size_t>((n + 15) / 16) * 16 * k * 2);
      std::vector<float> wr(static_cast<size_t>(n) * k);  // the weights as stored
      for (int r = 0; r < n; ++r) p.row(r, &wr[static_cast<size_t>(r) * k]);
      for (size_t i = 0; i < w.size(); ++i)
        ASSERT_EQ(t.round(w[i]), t.round(wr[i])) << "row() is not the weight rounded";
      std::vector<float> ref(static_cast<size_t>(m) * n), got(static_cast<size_t>(m) * n, NAN);
      gemm_ref(x.data(), m, k, wr.data(), n, ref.data());
      gemm(x.data(), m, k, p, got.data(), n, pool);
      expect_close(got, ref, 1e-4f, 1e-4f);
      for (int r = 0; r < n; r += 7) EXPECT_NEAR(p.row_dot(r, x.data()), ref[r], 1e-3f);
    }
}

// int8 weights: exact int32 block sums scaled in fp32, so the GEMM matches an fp64 sum of the
// same quantized products to fp32 rounding; and stays near the fp32 product (quantization
// error of both operands, ~1% of the row's scale for Gaussian data).
TEST_P(SimdParam, Int8GemmMatchesReferenceOnRaggedShapes) {
  ThreadPool pool(2);
  const int shapes[][3] = {{1, 4, 32},   {1, 17, 64},   {2, 130, 96},  {3, 5, 32},
                           {4, 33, 160}, {7, 100, 256}, {13, 65, 320}, {97, 130, 64},
                           {200, 70, 544}};
  for (const auto& s : shapes) {
    const int m = s[0], n = s[1], k = s[2], nb = k / 32;
    SCOPED_TRACE(::testing::Message() << "M=" << m << " N=" << n << " K=" << k);
    auto x = randn(static_cast<size_t>(m) * k, 21);
    auto w = randn(static_cast<size_t>(n) * k, 22, 0.05f);
    PackedMatrix p = PackedMatrix::pack(w.data(), n, k, WeightType::Int8);
    std::vector<int8_t> xq(static_cast<size_t>(m) * k), wq(static_cast<size_t>(n) * k);
    std::vector<float> xd(static_cast<size_t>(m) * nb), wd(static_cast<size_t>(n) * nb);
    for (int r = 0; r < m; ++r)
      quantize_q8(&x[static_cast<size_t>(r) * k], k, &xq[static_cast<size_t>(r) * k], &xd[r * nb]);
    for (int r = 0; r < n; ++r)
      quantize_q8(&w[static_cast<size_t>(r) * k], k, &wq[static_cast<size_t>(r) * k], &wd[r * nb]);
    std::vector<float> ref(static_cast<size_t>(m) * n), f32(static_cast<size_t>(m) * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int b = 0; b < nb; ++b) {
          int32_t t = 0;
          for (int e = b * 32; e < b * 32 + 32; ++e)
            t += int32_t{xq[static_cast<size_t>(i) * k + e]} * wq[static_cast<size_t>(j) * k + e];
          acc += static_cast<double>(t) * xd[i * nb + b] * wd[j * nb + b];
        }
        ref[i * n + j] = static_cast<float>(acc);
      }
    gemm_ref(x.data(), m, k, w.data(), n, f32.data());
    std::vector<float> got(static_cast<size_t>(m) * n, NAN);
    gemm(x.data(), m, k, p, got.data(), n, pool);
    expect_close(got, ref, 1e-5f, 1e-5f);
    double err = 0, scale = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err = std::max(err, static_cast<double>(std::fabs(got[i] - f32[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(f32[i])));
    }
    EXPECT_LE(err, 0.03 * scale) << "int8 strays from the fp32 product";
    for (int r = 0; r < n; r += 7) EXPECT_NEAR(p.row_dot(r, x.data()), ref[r], 1e-4f);
    std::vector<float> row(k);
    p.row(n - 1, row.data());
    for (int e = 0; e < k; ++e)
      ASSERT_EQ(row[e], wq[static_cast<size_t>(n - 1) * k + e] * wd[(n - 1) * nb + e / 32]);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, SimdParam,
                         ::testing::Values(Path::Avx512, Path::Avx2, Path::Scalar),
                         [](const auto& i) {
                           return i.param == Path::Avx512 ? "avx512"
                                  : i.param == Path::Avx2 ? "avx2"
                                                          : "scalar";
                         });

// Both quantizers give the same bits (so the two GEMM paths see the same integers), the blocks
// follow the Q8_0 rule, and an all-zero block gets scale 0.
TEST(Kernels, QuantizeQ8SameBitsOnBothPaths) {
  if (!simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
  auto x = randn(32 * 40, 31, 3.f);
  for (int i = 0; i < 32; ++i) x[i] = 0.f;  // block 0: all zero
  std::vector<int8_t> qa(x.size()), qs(x.size());
  std::vector<float> da(40), ds(40);
  quantize_q8(x.data(), static_cast<int>(x.size()), qa.data(), da.data());
  set_simd(false);
  quantize_q8(x.data(), static_cast<int>(x.size()), qs.data(), ds.data());
  set_simd(true);
  EXPECT_EQ(qa, qs);
  EXPECT_EQ(da, ds);
  EXPECT_EQ(da[0], 0.f);
  for (int b = 1; b < 40; ++b) {
    float amax = 0;
    int qmax = 0;
    for (int i = 0; i < 32; ++i) {
      amax = std::max(amax, std::fabs(x[b * 32 + i]));
      qmax = std::max(qmax, std::abs(int{qa[b * 32 + i]}));
      EXPECT_LE(std::fabs(qa[b * 32 + i] * da[b] - x[b * 32 + i]), 0.5f * da[b] * 1.0001f);
    }
    EXPECT_EQ(da[b], amax / 127.f);
    EXPECT_EQ(qmax, 127);
  }
}

// The 512-bit AVX512_VNNI int8 tile (two output rows per register, x + 128 against a
// -128 * sum(w) start, up to 6 rows a call) computes the same int32 lane sums as AVX2's sign
// trick + maddubs + madd and scales them the same way, so the GEMM's bits must not change.
// Skipped (never passed silently) on CPUs without it.
TEST(Kernels, Int8Avx512VnniGivesTheAvx2Bits) {
  if (!simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
  if (!avx512_vnni_supported())
    GTEST_SKIP() << "CPU lacks AVX512_VNNI + AVX512VL: the VNNI int8 path was not run";
  ThreadPool pool(2);
  const int shapes[][3] = {{1, 17, 64}, {3, 5, 32}, {7, 100, 256}, {97, 130, 96}};
  for (const auto& s : shapes) {
    const int m = s[0], n = s[1], k = s[2];
    SCOPED_TRACE(::testing::Message() << "M=" << m << " N=" << n << " K=" << k);
    auto x = randn(static_cast<size_t>(m) * k, 41);
    auto w = randn(static_cast<size_t>(n) * k, 42);
    PackedMatrix p = PackedMatrix::pack(w.data(), n, k, WeightType::Int8);
    std::vector<float> avx2(static_cast<size_t>(m) * n), vnni(avx2.size());
    set_avx512_vnni(false);
    gemm(x.data(), m, k, p, avx2.data(), n, pool);
    set_avx512_vnni(true);
    ASSERT_TRUE(avx512_vnni_enabled());
    gemm(x.data(), m, k, p, vnni.data(), n, pool);
    EXPECT_EQ(vnni, avx2);
  }
}

// Likewise the AVX512F micro-kernels (12-row tiles of one 16-lane FMA per panel row) for
// fp32, bf16 and f16 panels: each column the same FMA chain as AVX2's 6-row kernels, so the
// same bits, on row counts that cut both tilings differently (a lone last row included).
TEST(Kernels, Avx512GivesTheAvx2BitsForEveryPanelType) {
  if (!simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
  if (!avx512_supported()) GTEST_SKIP() << "CPU lacks AVX512F: the AVX-512 GEMM path was not run";
  ThreadPool pool(2);
  const int shapes[][3] = {{1, 17, 33},  {2, 130, 64},  {7, 100, 257}, {12, 33, 40},
                           {13, 48, 300}, {25, 16, 64}, {97, 130, 70}, {200, 40, 520}};
  for (WeightType type : {WeightType::F32, WeightType::BF16, WeightType::F16})
    for (const auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      SCOPED_TRACE(::testing::Message() << weight_type_name(type) << " M=" << m << " N=" << n
                                        << " K=" << k);
      auto x = randn(static_cast<size_t>(m) * k, 51);
      auto w = randn(static_cast<size_t>(n) * k, 52);
      PackedMatrix p = PackedMatrix::pack(w.data(), n, k, type);
      std::vector<float> avx2(static_cast<size_t>(m) * n), avx512(avx2.size());
      set_avx512(false);
      gemm(x.data(), m, k, p, avx2.data(), n, pool);
      set_avx512(true);
      ASSERT_TRUE(avx512_enabled());
      gemm(x.data(), m, k, p, avx512.data(), n, pool);
      EXPECT_EQ(avx512, avx2);
    }
}

// Attention's small products (micro_gemm16) on the AVX-512 tile: AVX2's bits, with and
// without accumulating into C, for row counts below, at and past 12.
TEST(Kernels, MicroGemm16Avx512GivesTheAvx2Bits) {
  if (!simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
  if (!avx512_supported()) GTEST_SKIP() << "CPU lacks AVX512F: the AVX-512 GEMM path was not run";
  for (int rows : {1, 5, 12, 19, 48})
    for (bool acc : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "rows=" << rows << " accumulate=" << acc);
      const int k = 64, ldp = 80;
      auto x = randn(static_cast<size_t>(rows) * k, 61);
      auto p = randn(static_cast<size_t>(k) * ldp, 62);
      auto c0 = randn(static_cast<size_t>(rows) * 16, 63);
      std::vector<float> avx2 = c0, avx512 = c0;
      set_avx512(false);
      micro_gemm16(x.data(), rows, k, p.data(), ldp, k, avx2.data(), 16, acc);
      set_avx512(true);
      micro_gemm16(x.data(), rows, k, p.data(), ldp, k, avx512.data(), 16, acc);
      EXPECT_EQ(avx512, avx2);
    }
}

// bf16 activations: the GEMM equals a reference on X rounded to bf16 (and the bf16 weights),
// on the AVX512_BF16 dot-product tile, on the fallback that rounds X for the FMA kernels, and on
// the scalar path; odd K (a pair padded with zero), K across 256-slices and M across 12-row
// tiles. row_dot rounds x the same way.
TEST(Kernels, Bf16ActivationsGemmMatchesRoundedReference) {
  ThreadPool pool(2);
  const int shapes[][3] = {{1, 17, 33}, {5, 40, 64}, {13, 100, 257}, {97, 130, 70}, {30, 16, 520}};
  struct Route {
    const char* name;
    bool simd, dot;
  };
  std::vector<Route> paths = {{"fallback-simd", true, false}, {"scalar", false, false}};
  if (bf16_dot_supported()) paths.push_back({"avx512-bf16-dot", true, true});
  for (const Route& path : paths)
    for (const auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      SCOPED_TRACE(::testing::Message() << path.name << " M=" << m << " N=" << n << " K=" << k);
      set_simd(path.simd);
      set_bf16_dot(path.dot);
      ASSERT_EQ(bf16_dot_enabled(), path.dot);
      auto x = randn(static_cast<size_t>(m) * k, 71);
      auto w = randn(static_cast<size_t>(n) * k, 72);
      PackedMatrix p = PackedMatrix::pack(w.data(), n, k, WeightType::BF16);
      p.bf16_activations = true;
      std::vector<float> xr = x, wr = w;
      for (float& v : xr) v = bf16_to_f32(f32_to_bf16(v));
      for (float& v : wr) v = bf16_to_f32(f32_to_bf16(v));
      std::vector<float> ref(static_cast<size_t>(m) * n), got(ref.size());
      gemm_ref(xr.data(), m, k, wr.data(), n, ref.data());
      gemm(x.data(), m, k, p, got.data(), n, pool);
      expect_close(got, ref, 1e-4f, 1e-4f);
      EXPECT_NEAR(p.row_dot(n - 1, x.data()), ref[n - 1], 1e-4f + 1e-4f * std::fabs(ref[n - 1]));
    }
  set_simd(true);
  set_bf16_dot(true);
  if (!bf16_dot_supported())
    GTEST_SKIP() << "CPU lacks AVX512_BF16 + AVX512BW: the bf16 dot-product path was not run";
}

// Attention's online softmax step, run over several 16-key panels with masks of every kind
// (all keys, a prefix, a hole, none): the AVX-512 form (one register a row) and the scalar one
// keep the same running max, sum and rescaled output, and the same probabilities.
TEST(Kernels, OnlineSoftmax16SameOnEveryPath) {
  const int rows = 7, d = 24, panels = 4;
  const uint16_t masks[rows] = {0xFFFF, 0x00FF, 0xF00F, 0x0000, 0x0001, 0x8000, 0x7FFE};
  struct State {
    std::vector<float> m, l, o, s;
  };
  auto run = [&](bool simd, bool avx512) {
    set_simd(simd);
    set_avx512(avx512);
    State st{std::vector<float>(rows, -std::numeric_limits<float>::infinity()),
             std::vector<float>(rows, 0.f), std::vector<float>(rows * d, 0.f), {}};
    for (int p = 0; p < panels; ++p) {
      // Later panels score higher, so the running max grows and the output is rescaled.
      auto sc = randn(rows * 16, 80 + p, 2.f);
      for (float& v : sc) v += p;
      online_softmax16(sc.data(), rows, masks, st.m.data(), st.l.data(), st.o.data(), d);
      auto v = randn(16 * d, 90 + p);
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < 16; ++j)
          axpy(sc[i * 16 + j], &v[j * d], &st.o[i * d], d);
      st.s.insert(st.s.end(), sc.begin(), sc.end());
    }
    set_simd(true);
    set_avx512(true);
    return st;
  };
  const State ref = run(false, false);
  for (int i = 0; i < rows; ++i) {
    if (masks[i] == 0) {
      EXPECT_EQ(ref.l[i], 0.f) << "row " << i;
    } else {
      EXPECT_GT(ref.l[i], 0.f) << "row " << i;
    }
    for (int p = 0; p < panels; ++p)
      for (int j = 0; j < 16; ++j)
        if (!(masks[i] >> j & 1)) {
          EXPECT_EQ(ref.s[(p * rows + i) * 16 + j], 0.f);
        }
  }
  std::vector<std::pair<bool, bool>> paths = {{true, false}};
  if (avx512_supported()) paths.push_back({true, true});
  for (auto [simd, avx512] : paths) {
    SCOPED_TRACE(avx512 ? "avx512" : "avx2");
    const State got = run(simd, avx512);
    EXPECT_EQ(got.m, ref.m);
    expect_close(got.l, ref.l, 1e-6f, 1e-5f);
    expect_close(got.o, ref.o, 1e-5f, 1e-5f);
    expect_close(got.s, ref.s, 1e-7f, 1e-5f);
  }
  if (!avx512_supported()) GTEST_SKIP() << "CPU lacks AVX512F: the AVX-512 softmax was not run";
}

TEST(Kernels, Int8RejectsKNotAMultipleOf32) {
  try {
    PackedMatrix::zeros(8, 40, WeightType::Int8);
    FAIL() << "K = 40 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32, got 40"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(PackedMatrix::zeros(8, 40, WeightType::BF16));
}

TEST(Kernels, WeightTypeNames) {
  for (WeightType t : {WeightType::F32, WeightType::BF16, WeightType::F16, WeightType::Int8}) {
    WeightType u;
    ASSERT_TRUE(weight_type_from_name(weight_type_name(t), &u));
    EXPECT_EQ(u, t);
  }
  WeightType u;
  EXPECT_FALSE(weight_type_from_name("q8_0", &u));
  EXPECT_FALSE(weight_type_from_name("BF16", &u));
}

TEST(Kernels, RmsNorm) {
  auto x = randn(37, 7), g = randn(37, 8);
  std::vector<float> out(37);
  rmsnorm(x.data(), g.data(), 37, 1e-5f, out.data());
  double ss = 0;
  for (float v : x) ss += v * v;
  const double inv = 1 / std::sqrt(ss / 37 + 1e-5);
  for (int i = 0; i < 37; ++i) EXPECT_NEAR(out[i], x[i] * inv * g[i], 1e-5);
  rmsnorm(x.data(), g.data(), 37, 1e-5f, x.data());  // in place
  expect_close(x, out, 0, 0);
}

TEST(Kernels, SoftmaxAndLogsumexp) {
  std::vector<float> x = {1.f, 2.f, 3.f, 1000.f, -1000.f};
  const float lse = logsumexp(x.data(), 5);
  EXPECT_NEAR(lse, 1000.f, 1e-4);
  std::vector<float> y = {0.f, std::log(3.f)};
  softmax(y.data(), 2);
  EXPECT_NEAR(y[0], 0.25f, 1e-6);
  EXPECT_NEAR(y[1], 0.75f, 1e-6);
  softmax(x.data(), 5);
  EXPECT_NEAR(x[3], 1.f, 1e-6);
  EXPECT_EQ(x[4], 0.f);
}

TEST(Kernels, Swiglu) {
  std::vector<float> g = {0.f, 1.f, -2.f}, u = {3.f, 2.f, 1.f}, out(3);
  swiglu(g.data(), u.data(), 3, out.data());
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_NEAR(out[1], 1.f / (1.f + std::exp(-1.f)) * 2.f, 1e-6);
  EXPECT_NEAR(out[2], -2.f / (1.f + std::exp(2.f)), 1e-6);
}

// Values from reference.py (NumPy, the HF formulas) for head_dim 16, theta 1e4, llama3 scaling
// factor 8, low 1, high 4, original context 64: covers the scaled, smoothed and kept bands.
TEST(Kernels, SwigluAvx2MatchesScalar) {
  // Every lane, the scalar tail, and gates far enough out that exp over- or underflows.
  std::vector<float> g(203), u(203), simd(203), scalar(203);
  for (int i = 0; i < 203; ++i) {
    g[i] = (i - 101) * 0.37f;
    u[i] = 1.f + 0.01f * i;
  }
  g[0] = -120.f;
  g[1] = 120.f;
  swiglu(g.data(), u.data(), 203, simd.data());
  set_simd(false);
  swiglu(g.data(), u.data(), 203, scalar.data());
  set_simd(true);
  for (int i = 0; i < 203; ++i)
    EXPECT_NEAR(simd[i], scalar[i], 1e-6f * std::max(1.f, std::fabs(scalar[i]))) << i;
}

TEST(Kernels, RopeLlama3MatchesReference) {
  ModelConfig c;
  c.head_dim = 16;
  c.rope_theta = 10000.f;
  c.rope = {RopeScaling::Llama3, 8.f, 1.f, 4.f, 64};
  const std::vector<float> want = {1.000000000e+00f, 2.443845994e-01f, 1.304225604e-02f,
                                   3.952847075e-03f, 1.250000000e-03f, 3.952847075e-04f,
                                   1.250000000e-04f, 3.952847075e-05f};
  auto f = rope_inv_freq(c);
  expect_close(f, want, 0, 1e-6f);
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = i / 10.f;
  rope(x.data(), 2, 16, 37, f.data());
  const std::vector<float> rot = {
      0.5148305f, -0.4287284f, -0.2868898f, 0.1364892f, 0.3440920f, 0.4809340f, 0.5935186f,
      0.6978054f, 0.6123312f, -0.7976164f, 0.9786185f, 1.1319765f, 1.2172102f, 1.3071735f,
      1.4027600f, 1.5010222f, 2.7691540f, -2.5103315f, 0.3879211f, 1.4862320f, 1.8684075f,
      2.0573629f, 2.1861015f, 2.2954636f, 0.8073327f, -1.6847065f, 3.1383941f, 2.9480696f,
      2.8894729f, 2.9304024f, 3.0101429f, 3.1033606f};
  expect_close(x, rot, 2e-6f, 1e-6f);
}

TEST(Kernels, RopeDefaultAndLinear) {
  ModelConfig c;
  c.head_dim = 8;
  c.rope_theta = 10000.f;
  auto f = rope_inv_freq(c);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(f[i], std::pow(10000.f, -2.f * i / 8));
  c.rope = {RopeScaling::Linear, 4.f, 1.f, 4.f, 0};
  auto g = rope_inv_freq(c);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(g[i], f[i] / 4);
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, y = x;
  rope(y.data(), 1, 8, 0, f.data());  // position 0 is the identity
  expect_close(y, x, 0, 0);
}

TEST(Kernels, MoeRoutingIsSoftmaxOverTopK) {
  std::vector<float> logits = {0.5f, 2.f, -1.f, 2.f, 1.f};
  int idx[2];
  float w[2];
  moe_route(logits.data(), 5, 2, idx, w);
  EXPECT_EQ(idx[0], 1);  // tie between 1 and 3 goes to the lower index first
  EXPECT_EQ(idx[1], 3);
  EXPECT_NEAR(w[0], 0.5f, 1e-6);
  EXPECT_NEAR(w[1], 0.5f, 1e-6);
  int i3[3];
  float w3[3];
  moe_route(logits.data(), 5, 3, i3, w3);
  EXPECT_EQ(i3[2], 4);
  // HF: softmax over all E, take top k, divide by their sum.
  double all = 0;
  for (float l : logits) all += std::exp(l);
  const double top = (std::exp(2.) * 2 + std::exp(1.)) / all;
  EXPECT_NEAR(w3[2], std::exp(1.) / all / top, 1e-6);
  EXPECT_NEAR(w3[0] + w3[1] + w3[2], 1.f, 1e-6);
}

TEST(ThreadPoolTest, CoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (int n : {1, 2, 3, 10, 1000}) {
    std::vector<int> hits(n, 0);
    pool.parallel_for(n, [&](int b, int e) {
      for (int i = b; i < e; ++i) ++hits[i];
    });
    for (int h : hits) EXPECT_EQ(h, 1);
  }
}

TEST(Sampler, GreedyTakesLowestArgmax) {
  std::vector<float> l = {0.f, 3.f, 1.f, 3.f};
  Rng rng(1);
  EXPECT_EQ(sample(l, {}, rng), 1);
  SamplingParams p;
  p.temperature = 1.f;
  p.top_k = 1;
  EXPECT_EQ(sample(l, p, rng), 1);
  p.top_k = 0;
  p.top_p = 0.01f;  // nucleus of one token
  EXPECT_EQ(sample(l, p, rng), 1);
}

TEST(Sampler, SeededAndFollowsDistribution) {
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams p;
  p.temperature = 1.f;
  Rng a(42), b(42);
  std::map<int, int> counts;
  for (int i = 0; i < 20000; ++i) {
    const int t = sample(l, p, a);
    EXPECT_EQ(t, sample(l, p, b));
    ++counts[t];
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.2, 0.02);
  // top_k = 2 removes token 2 and renormalizes: 0.5 / 0.8.
  p.top_k = 2;
  int zero = 0;
  for (int i = 0; i < 20000; ++i) {
    const int t = sample(l, p, a);
    EXPECT_NE(t, 2);
    zero += t == 0;
  }
  EXPECT_NEAR(zero / 20000.0, 0.625, 0.02);
  // top_p = 0.6 keeps {0, 1} (0.5 < 0.6 <= 0.8).
  p.top_k = 0;
  p.top_p = 0.6f;
  for (int i = 0; i < 2000; ++i) EXPECT_NE(sample(l, p, a), 2);
}

}  // namespace
}  // namespace bg
