// Each CUDA kernel against a CPU reference (double accumulation) on fresh random inputs, with
// outputs poisoned beforehand: |got - ref| <= atol + rtol * |ref|. bf16 outputs carry ~2^-9
// relative rounding, hence ~1e-2 tolerances there; fp32 outputs of bf16 inputs ~1e-3.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend.h"
#include "cuda_test_util.h"
#include "kernels.cuh"

namespace bg {
namespace {

using test::DevBuf;
using test::expect_close;
using test::rand_bf16;
using test::randf;

// ---------------------------------------------------------------------------------------------
// GEMM

void check_gemm(int m, int n, int k, int ldx, bool accumulate) {
  std::vector<uint16_t> xb, wb;
  std::vector<float> xf, wf;
  rand_bf16(static_cast<size_t>(m) * ldx, &xb, &xf);
  rand_bf16(static_cast<size_t>(n) * k, &wb, &wf);
  const auto y0 = randf(static_cast<size_t>(m) * n);
  DevBuf<uint16_t> x(xb), w(wb);
  DevBuf<float> y(static_cast<size_t>(m) * n);
  if (accumulate) y.upload(y0); else y.poison();
  cuda::gemm_bf16(x.get(), m, k, ldx, w.get(), n, y.get(), n, accumulate, nullptr);
  cudaCheck(cudaDeviceSynchronize());
  std::vector<double> ref(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = accumulate ? y0[static_cast<size_t>(i) * n + j] : 0.0;
      for (int p = 0; p < k; ++p)
        s += static_cast<double>(xf[static_cast<size_t>(i) * ldx + p]) * wf[static_cast<size_t>(j) * k + p];
      ref[static_cast<size_t>(i) * n + j] = s;
    }
  expect_close(y.download(), ref, 1e-3, 1e-3,
               "gemm m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
}

TEST(CudaGemm, MatchesReferenceOnEveryTileShape) {
  check_gemm(1, 200, 64, 64, false);       // decode tile, N not a tile multiple
  check_gemm(7, 136, 72, 80, false);       // K tail inside a 32-wide k tile, strided X rows
  check_gemm(16, 512, 1024, 1024, true);   // accumulate into Y (residual-style)
  check_gemm(33, 130, 264, 264, false);    // 64x64 tiles, ragged M and N
  check_gemm(300, 520, 768, 768, false);
  check_gemm(1024, 1024, 512, 512, false); // 128x128 tiles
}

TEST(CudaGemm, GroupedMatchesPerGroupReference) {
  const int k = 96, n = 72, groups = 3;
  const std::vector<int> row0 = {0, 5, 5, 45};  // an empty group in the middle
  const int rows = row0.back();
  std::vector<uint16_t> xb, wb;
  std::vector<float> xf, wf;
  rand_bf16(static_cast<size_t>(rows) * k, &xb, &xf);
  rand_bf16(static_cast<size_t>(groups) * n * k, &wb, &wf);
  DevBuf<uint16_t> x(xb), w(wb);
  DevBuf<int> r0(row0);
  DevBuf<float> y(static_cast<size_t>(rows) * n);
  y.poison();
  cuda::gemm_bf16_grouped(x.get(), k, k, w.get(), n, y.get(), n, r0.get(), groups, 40, nullptr);
  std::vector<double> ref(static_cast<size_t>(rows) * n);
  for (int g = 0; g < groups; ++g)
    for (int i = row0[g]; i < row0[g + 1]; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int p = 0; p < k; ++p)
          s += static_cast<double>(xf[static_cast<size_t>(i) * k + p]) *
               wf[(static_cast<size_t>(g) * n + j) * k + p];
        ref[static_cast<size_t>(i) * n + j] = s;
      }
  expect_close(y.download(), ref, 1e-3, 1e-3, "grouped gemm");
}

// ---------------------------------------------------------------------------------------------
// Row kernels

TEST(CudaKernels, EmbedGather) {
  const int v = 100, c = 72, t = 9;
  std::vector<uint16_t> eb;
  std::vector<float> ef;
  rand_bf16(static_cast<size_t>(v) * c, &eb, &ef);
  std::vector<int> tok(t);
  for (auto& x : tok) x = static_cast<int>(test::rng()() % v);
  DevBuf<uint16_t> e(eb);
  DevBuf<int> tk(tok);
  DevBuf<float> x(static_cast<size_t>(t) * c);
  x.poison();
  cuda::embed_gather(e.get(), tk.get(), t, c, x.get(), nullptr);
  std::vector<double> ref;
  for (int r = 0; r < t; ++r)
    for (int i = 0; i < c; ++i) ref.push_back(ef[static_cast<size_t>(tok[r]) * c + i]);
  expect_close(x.download(), ref, 0, 0, "embedding gather");
}

TEST(CudaKernels, AddRmsnormFusedAndGathered) {
  const int t = 6, c = 1000;
  const float eps = 1e-6f;
  const auto x0 = randf(static_cast<size_t>(t) * c, -2, 2), d0 = randf(static_cast<size_t>(t) * c),
             g0 = randf(c, 0.5f, 1.5f);
  for (const bool gather : {false, true}) {
    const std::vector<int> rows = gather ? std::vector<int>{4, 1} : std::vector<int>{};
    const int n = gather ? 2 : t;
    DevBuf<float> x(x0), d(d0), g(g0);
    DevBuf<int> rw(gather ? rows : std::vector<int>{0});
    DevBuf<uint16_t> h(static_cast<size_t>(n) * c);
    h.poison();
    cuda::add_rmsnorm(x.get(), d.get(), g.get(), n, c, eps, h.get(), gather ? rw.get() : nullptr, nullptr);
    std::vector<double> xr(x0.begin(), x0.end()), hr;
    for (int i = 0; i < n; ++i) {
      const int r = gather ? rows[i] : i;
      double ss = 0;
      for (int j = 0; j < c; ++j) {
        xr[static_cast<size_t>(r) * c + j] += d0[static_cast<size_t>(r) * c + j];
        ss += xr[static_cast<size_t>(r) * c + j] * xr[static_cast<size_t>(r) * c + j];
      }
      const double inv = 1.0 / std::sqrt(ss / c + eps);
      for (int j = 0; j < c; ++j) hr.push_back(xr[static_cast<size_t>(r) * c + j] * inv * g0[j]);
    }
    expect_close(x.download(), xr, 1e-6, 1e-6, "residual add");
    expect_close(test::from_bf16(h.download()), hr, 1e-2, 1e-2, "rmsnorm");
  }
}

TEST(CudaKernels, Swiglu) {
  const int t = 3, f = 1000;
  const auto gu0 = randf(static_cast<size_t>(t) * 2 * f, -4, 4);
  DevBuf<float> gu(gu0);
  DevBuf<uint16_t> act(static_cast<size_t>(t) * f);
  act.poison();
  cuda::swiglu(gu.get(), t, f, act.get(), nullptr);
  std::vector<double> ref;  // the CPU backend's kernel
  std::vector<float> row(f);
  for (int r = 0; r < t; ++r) {
    swiglu(&gu0[static_cast<size_t>(r) * 2 * f], &gu0[static_cast<size_t>(r) * 2 * f + f], f, row.data());
    ref.insert(ref.end(), row.begin(), row.end());
  }
  expect_close(test::from_bf16(act.download()), ref, 1e-2, 1e-2, "swiglu");
}

TEST(CudaKernels, LabelLogits) {
  const int v = 300, c = 200, n = 50, t = 7;
  std::vector<uint16_t> lb, hb;
  std::vector<float> lf, hf;
  rand_bf16(static_cast<size_t>(v) * c, &lb, &lf);
  rand_bf16(static_cast<size_t>(t) * c, &hb, &hf);
  std::vector<int> row(n), ids(n);
  for (int i = 0; i < n; ++i) {
    row[i] = static_cast<int>(test::rng()() % t);
    ids[i] = static_cast<int>(test::rng()() % v);
  }
  DevBuf<uint16_t> lm(lb), h(hb);
  DevBuf<int> rw(row), id(ids);
  DevBuf<float> out(n);
  out.poison();
  cuda::label_logits(lm.get(), h.get(), rw.get(), id.get(), n, c, out.get(), nullptr);
  std::vector<double> ref;
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < c; ++j)
      s += static_cast<double>(lf[static_cast<size_t>(ids[i]) * c + j]) * hf[static_cast<size_t>(row[i]) * c + j];
    ref.push_back(s);
  }
  expect_close(out.download(), ref, 1e-3, 1e-3, "label logits");
}

TEST(CudaKernels, ArgmaxLogprobPicksFirstMaximum) {
  const int n = 5, v = 151936;  // a real vocabulary width: many elements per thread
  auto lg = randf(static_cast<size_t>(n) * v, -8, 8);
  lg[static_cast<size_t>(1) * v + 7] = lg[static_cast<size_t>(1) * v + 90000] = 20.f;  // tie: id 7
  lg[static_cast<size_t>(3) * v + v - 1] = 30.f;                                       // last id
  DevBuf<float> d(lg), out(static_cast<size_t>(n) * 2);
  out.poison();
  cuda::argmax_logprob(d.get(), n, v, out.get(), nullptr);
  const auto got = out.download();
  for (int r = 0; r < n; ++r) {
    float want[2];
    argmax_logprob(&lg[static_cast<size_t>(r) * v], v, want);  // the CPU backend's reduction
    EXPECT_EQ(got[2 * r], want[0]) << "row " << r;
    EXPECT_NEAR(got[2 * r + 1], want[1], 1e-4 + 1e-4 * std::fabs(want[1])) << "row " << r;
  }
  EXPECT_EQ(got[2], 7.f);
  EXPECT_EQ(got[6], static_cast<float>(v - 1));
}

// ---------------------------------------------------------------------------------------------
// QKV post-processing and paged attention, through scattered block tables, for a multi-item
// sequence and a plain causal one in the same step, then a decode step.

struct AttnSetup {
  static constexpr int L = 2, K = 2, H = 6, D = 64, B = 16, BLOCKS = 10, LAYER = 1;
  static constexpr int W = (H + 2 * K) * D;
};

// Reference of qkv_rope_store for one row, (H + 2K, D) after bias, q/k norm and RoPE: the
// CPU backend's own steps and kernels (cpu/cpu_backend.cpp forward).
std::vector<double> qkv_ref(const float* row, const std::vector<float>& bias,
                            const std::vector<float>& qn, const std::vector<float>& kn,
                            const std::vector<float>& inv_freq, int pos, float eps) {
  using S = AttnSetup;
  std::vector<float> v(S::W);
  for (int i = 0; i < S::W; ++i) v[i] = row[i] + bias[i];
  float* q = v.data();
  float* k = q + S::H * S::D;
  for (int h = 0; h < S::H; ++h) rmsnorm(q + h * S::D, qn.data(), S::D, eps, q + h * S::D);
  for (int h = 0; h < S::K; ++h) rmsnorm(k + h * S::D, kn.data(), S::D, eps, k + h * S::D);
  rope(q, S::H, S::D, pos, inv_freq.data());
  rope(k, S::K, S::D, pos, inv_freq.data());
  return std::vector<double>(v.begin(), v.end());
}

class CudaAttention : public ::testing::Test {
 protected:
  using S = AttnSetup;
  void SetUp() override {
    kv_ = std::make_unique<DevBuf<uint16_t>>(static_cast<size_t>(S::BLOCKS) * S::L * 2 * S::K * S::B * S::D);
    kv_->poison();  // attention must never read a slot nothing wrote
    bias_ = randf(S::W, -0.5f, 0.5f);
    qn_ = randf(S::D, 0.5f, 1.5f);
    kn_ = randf(S::D, 0.5f, 1.5f);
    for (int i = 0; i < S::D / 2; ++i) inv_freq_.push_back(std::pow(10000.f, -2.f * i / S::D));
    tile_rows_ = cuda::attention_tile_rows(S::H, S::K, S::D);
  }
  cuda::KvLayout layout() const { return {kv_->get(), S::L, S::K, S::B, S::D}; }
  float kv_at(const std::vector<uint16_t>& kv, int block, int which, int head, int slot, int d) const {
    const size_t i = ((((static_cast<size_t>(block) * S::L + S::LAYER) * 2 + which) * S::K + head) * S::B + slot) * S::D + d;
    return bf16_to_f32(kv[i]);
  }
  // Runs qkv_rope_store and paged_attention on `chunks`, checks both against references.
  void step(const std::vector<SeqChunk>& chunks) {
    std::vector<cuda::RowMeta> rows;
    std::vector<int> tables;
    std::vector<cuda::AttnTile> tiles;
    for (const SeqChunk& ch : chunks) {
      const int table = static_cast<int>(tables.size()), row0 = static_cast<int>(rows.size());
      tables.insert(tables.end(), ch.blocks->begin(), ch.blocks->end());
      std::vector<RowSpan> sp;
      chunk_row_spans(ch, &sp);
      for (const auto& s : sp) rows.push_back({s.slot, s.pos, s.shared, s.lo, table});
      for (int r = 0; r < static_cast<int>(sp.size()); r += tile_rows_)
        tiles.push_back({row0 + r, std::min(tile_rows_, static_cast<int>(sp.size()) - r)});
    }
    const int t = static_cast<int>(rows.size());
    const auto qkv0 = randf(static_cast<size_t>(t) * S::W, -2, 2);
    DevBuf<float> qkv(qkv0), bias(bias_), qn(qn_), kn(kn_), invf(inv_freq_);
    DevBuf<cuda::RowMeta> rw(rows);
    DevBuf<int> tb(tables);
    DevBuf<cuda::AttnTile> tl(tiles);
    DevBuf<uint16_t> q(static_cast<size_t>(t) * S::H * S::D), out(static_cast<size_t>(t) * S::H * S::D);
    q.poison();
    out.poison();
    const float eps = 1e-6f;
    cuda::qkv_rope_store(qkv.get(), bias.get(), qn.get(), kn.get(), eps, invf.get(), rw.get(), tb.get(),
                         t, S::H, layout(), S::LAYER, q.get(), nullptr);
    cuda::paged_attention(q.get(), rw.get(), tb.get(), tl.get(), static_cast<int>(tiles.size()),
                          tile_rows_, S::H, layout(), S::LAYER, out.get(), nullptr);
    const auto qd = q.download(), kv = kv_->download(), od = out.download();
    // 1. q and the K/V written at each row's slot.
    std::vector<float> q_got, kv_got;
    std::vector<double> q_ref, kv_ref;
    for (int r = 0; r < t; ++r) {
      const auto ref = qkv_ref(&qkv0[static_cast<size_t>(r) * S::W], bias_, qn_, kn_, inv_freq_, rows[r].pos, eps);
      for (int i = 0; i < S::H * S::D; ++i) {
        q_got.push_back(bf16_to_f32(qd[static_cast<size_t>(r) * S::H * S::D + i]));
        q_ref.push_back(ref[i]);
      }
      const int block = tables[rows[r].table + rows[r].slot / S::B], slot = rows[r].slot % S::B;
      for (int which = 0; which < 2; ++which)
        for (int hh = 0; hh < S::K; ++hh)
          for (int d = 0; d < S::D; ++d) {
            kv_got.push_back(kv_at(kv, block, which, hh, slot, d));
            const double v = which == 0 ? ref[(S::H + hh) * S::D + d]
                                        : qkv0[static_cast<size_t>(r) * S::W + (S::H + S::K + hh) * S::D + d] +
                                              bias_[(S::H + S::K + hh) * S::D + d];
            kv_ref.push_back(v);
          }
    }
    expect_close(q_got, q_ref, 1e-2, 1e-2, "q after norm and rope");
    expect_close(kv_got, kv_ref, 1e-2, 1e-2, "k/v in the paged cache");
    // 2. Attention from the kernel's own bf16 q and cache, mask rule of backend.h.
    std::vector<float> got;
    std::vector<double> ref;
    const int G = S::H / S::K;
    for (int r = 0; r < t; ++r) {
      const auto& m = rows[r];
      for (int hq = 0; hq < S::H; ++hq) {
        const int kvh = hq / G;
        std::vector<double> sc;
        std::vector<int> slots;
        for (int p = 0; p <= m.slot; ++p) {
          if (!(p < m.shared || p >= m.lo)) continue;
          const int block = tables[m.table + p / S::B];
          double s = 0;
          for (int d = 0; d < S::D; ++d)
            s += bf16_to_f32(qd[(static_cast<size_t>(r) * S::H + hq) * S::D + d]) * kv_at(kv, block, 0, kvh, p % S::B, d);
          sc.push_back(s / std::sqrt(static_cast<double>(S::D)));
          slots.push_back(p);
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double den = 0;
        for (auto& s : sc) den += (s = std::exp(s - mx));
        for (int d = 0; d < S::D; ++d) {
          double o = 0;
          for (size_t j = 0; j < slots.size(); ++j)
            o += sc[j] / den * kv_at(kv, tables[m.table + slots[j] / S::B], 1, kvh, slots[j] % S::B, d);
          ref.push_back(o);
          got.push_back(bf16_to_f32(od[(static_cast<size_t>(r) * S::H + hq) * S::D + d]));
        }
      }
    }
    expect_close(got, ref, 1e-2, 1e-2, "paged attention");
  }
  std::unique_ptr<DevBuf<uint16_t>> kv_;
  std::vector<float> bias_, qn_, kn_, inv_freq_;
  int tile_rows_ = 1;
};

TEST_F(CudaAttention, PrefillMultiItemAndCausalThenDecode) {
  const std::vector<int> table_a = {3, 8, 1}, table_b = {0, 5, 9};
  // A: prefix of 20 slots, then items of 7 and 13 tokens, fed whole.
  SeqChunk a{&table_a, 0, std::vector<int>(40, 1)};
  a.shared = 20;
  for (int i = 0; i < 40; ++i) a.item_lo.push_back(i < 20 ? 0 : i < 27 ? 20 : 27);
  // B: a plain causal sequence of 25 tokens, in the same step.
  SeqChunk b{&table_b, 0, std::vector<int>(25, 1)};
  step({a, b});
  // Decode: one more token of B (a tile of one row) and one more item token of A.
  SeqChunk b2{&table_b, 25, {1}};
  SeqChunk a2{&table_a, 40, {1}};
  a2.shared = 20;
  a2.item_lo = {27};
  step({b2, a2});
}

// ---------------------------------------------------------------------------------------------
// Mixtral routing, grouping, grouped expert GEMMs and the weighted combine.

TEST(CudaMoe, RoutedExpertsMatchReference) {
  const int t = 37, e = 8, k = 2, c = 64, f = 96;
  auto logits = randf(static_cast<size_t>(t) * e, -3, 3);
  for (int i = 0; i < e; ++i) logits[i] = 0.5f;  // row 0: all tied -> experts 0 and 1
  logits[e + 3] = logits[e + 5] = 9.f;           // row 1: a tie at the top -> 3 then 5
  std::vector<uint16_t> hb, gub, db;
  std::vector<float> hf, guf, df;
  rand_bf16(static_cast<size_t>(t) * c, &hb, &hf);
  rand_bf16(static_cast<size_t>(e) * 2 * f * c, &gub, &guf, 0.2f);
  rand_bf16(static_cast<size_t>(e) * c * f, &db, &df, 0.2f);
  const auto x0 = randf(static_cast<size_t>(t) * c);
  DevBuf<float> lg(logits), x(x0), wt(static_cast<size_t>(t) * k), gu(static_cast<size_t>(t) * k * 2 * f),
      ye(static_cast<size_t>(t) * k * c);
  DevBuf<int> idx(static_cast<size_t>(t) * k), row0(e + 1), src(static_cast<size_t>(t) * k), dst(static_cast<size_t>(t) * k);
  DevBuf<uint16_t> h(hb), wgu(gub), wd(db), xe(static_cast<size_t>(t) * k * c), act(static_cast<size_t>(t) * k * f);
  for (auto* p : {&gu, &ye}) p->poison();
  cuda::moe_route(lg.get(), t, e, k, idx.get(), wt.get(), nullptr);
  cuda::moe_group(idx.get(), t, e, k, row0.get(), src.get(), dst.get(), nullptr);
  cuda::gather_rows(h.get(), src.get(), t * k, c, xe.get(), nullptr);
  cuda::gemm_bf16_grouped(xe.get(), c, c, wgu.get(), 2 * f, gu.get(), 2 * f, row0.get(), e, t, nullptr);
  cuda::swiglu(gu.get(), t * k, f, act.get(), nullptr);
  cuda::gemm_bf16_grouped(act.get(), f, f, wd.get(), c, ye.get(), c, row0.get(), e, t, nullptr);
  cuda::moe_combine(ye.get(), dst.get(), wt.get(), t, k, c, x.get(), nullptr);
  const auto idx_got = idx.download();
  const auto wt_got = wt.download();
  std::vector<double> xr(x0.begin(), x0.end());
  for (int r = 0; r < t; ++r) {
    std::vector<int> ri(k);
    std::vector<float> rwt(k);
    moe_route(&logits[static_cast<size_t>(r) * e], e, k, ri.data(), rwt.data());
    for (int i = 0; i < k; ++i) {
      ASSERT_EQ(idx_got[r * k + i], ri[i]) << "row " << r << " choice " << i;
      EXPECT_NEAR(wt_got[r * k + i], rwt[i], 1e-6);
      const int ex = ri[i];
      std::vector<double> a(f);
      for (int j = 0; j < f; ++j) {
        double g = 0, u = 0;
        for (int p = 0; p < c; ++p) {
          g += static_cast<double>(guf[(static_cast<size_t>(ex) * 2 * f + j) * c + p]) * hf[static_cast<size_t>(r) * c + p];
          u += static_cast<double>(guf[(static_cast<size_t>(ex) * 2 * f + f + j) * c + p]) * hf[static_cast<size_t>(r) * c + p];
        }
        a[j] = bf16_to_f32(f32_to_bf16(static_cast<float>(g / (1 + std::exp(-g)) * u)));
      }
      for (int p = 0; p < c; ++p) {
        double y = 0;
        for (int j = 0; j < f; ++j) y += df[(static_cast<size_t>(ex) * c + p) * f + j] * a[j];
        xr[static_cast<size_t>(r) * c + p] += rwt[i] * y;
      }
    }
  }
  EXPECT_EQ(idx_got[0], 0);
  EXPECT_EQ(idx_got[1], 1);
  EXPECT_EQ(idx_got[k], 3);
  EXPECT_EQ(idx_got[k + 1], 5);
  expect_close(x.download(), xr, 1e-2, 1e-2, "moe output");
}

}  // namespace
}  // namespace bg
