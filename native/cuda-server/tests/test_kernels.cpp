// Every kernel against a plain reference, on both the AVX2 and the scalar path.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "backend.h"
#include "config.h"
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

class SimdParam : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    set_simd(GetParam());
    if (GetParam() && !simd_enabled()) GTEST_SKIP() << "CPU lacks AVX2/FMA";
  }
  void TearDown() override { set_simd(true); }
};

TEST_P(SimdParam, GemmMatchesReferenceOnRaggedShapes) {
  ThreadPool pool(2);
  // Shapes cross every tiling edge: M vs the 6-row micro-kernel and 96-row tile, N vs 16-column
  // panels and 4-panel tiles, K vs the 256 K-slice.
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

INSTANTIATE_TEST_SUITE_P(Paths, SimdParam, ::testing::Values(true, false),
                         [](const auto& i) { return i.param ? "avx2" : "scalar"; });

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
