// brewgate-bench: CPU backend throughput on one model, printed as one JSON line at the end.
//   brewgate-bench --model DIR [--threads N] [--weights f32|bf16|f16|int8]
//                  [--activations f32|bf16] [--prefix 1500]
//                  [--candidates 50] [--candidate-tokens 40] [--naive-items 2] [--rounds 3]
//                  [--compare-normalize]
// Measures: the load (RSS against the checkpoint's size); the compute peak of the path in use
// (an FMA loop of the GEMM's vector width for f32, bf16 and f16, a vdpbf16ps loop for bf16
// activations, the int8 tile's instruction sequence for int8); the prefill
// GEMMs alone; prefill and decode through the engine, decode also as weight bytes streamed per
// second against a measured memory copy rate; scoring candidates behind one shared prefix
// through the engine (prefix computed once) against scoring each candidate as an independent
// full prompt. The naive rate is measured on --naive-items items per round, since 50 full
// prompts would take minutes. Each measurement adds its fields to the Report printed last.
#include <immintrin.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cpu_backend.h"
#include "engine.h"
#include "error.h"
#include "kernels.h"

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// CPU seconds used by the whole process (all threads) so far: unlike wall time, barely moved
// by other processes competing for the same cores.
double cpu_secs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Runs loop(iters) on `threads` threads at once; ops_per_iter operations per iteration and
// thread; returns G operations per second.
template <class Loop>
double peak_gops(int threads, long iters, double ops_per_iter, Loop loop) {
  std::vector<std::thread> ts;
  std::atomic<float> sink{0};  // the loops' results are used, so they cannot be dropped
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) ts.emplace_back([&] { sink = sink + loop(iters); });
  for (auto& t : ts) t.join();
  return ops_per_iter * iters * threads / secs(t0) / 1e9;
}

__attribute__((target("avx2,fma"))) float fma_loop(long iters) {
  // 12 independent accumulators cover FMA latency x throughput (4 x 2 on current cores).
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm256_cvtss_f32(a[i]);
  return s;
}

// The same on 16-lane vectors: the peak of the AVX-512 GEMM kernels.
__attribute__((target("avx512f"))) float fma_loop512(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm512_cvtss_f32(a[i]);
  return s;
}

// FLOP/s of the FMA loop of the vector width the GEMM uses (16 lanes where AVX-512 is on).
double fma_peak_gflops(int threads) {
  if (!bg::simd_enabled()) return 0;
  const bool wide = bg::avx512_enabled();
  return peak_gops(threads, 20000000, 2.0 * (wide ? 16 : 8) * 12,
                   wide ? fma_loop512 : fma_loop);
}

// vdpbf16ps on registers, 12 chains: two multiply-adds per lane and instruction.
__attribute__((target("avx512f,avx512bf16"))) float bf16_dot_loop(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));  // 1.0
  const __m512bh y = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3380));  // ~6e-8
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm512_cvtss_f32(a[i]);
  return s;
}

// FLOP/s (2 per multiply-add) of the bf16 dot-product GEMM's instruction.
double bf16_dot_peak_gflops(int threads) {
  return peak_gops(threads, 20000000, 2.0 * 32 * 12, bf16_dot_loop);
}

// The AVX2 int8 tile's work per block of 32 (kernels_int8.cpp) on registers: sign, maddubs,
// madd against ones, convert, scaled FMA; 12 independent chains. The weight vector changes
// every iteration so that none of it can be hoisted out of the loop.
__attribute__((target("avx2,fma"))) float int8_dot_loop(long iters) {
  __m256 a[12];
  __m256i x[12];
  for (int i = 0; i < 12; ++i) {
    a[i] = _mm256_setzero_ps();
    x[i] = _mm256_set1_epi8(static_cast<char>(i + 1));
  }
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(5);
  const __m256 d = _mm256_set1_ps(1e-6f);
  __m256i w = _mm256_set1_epi8(3);
  for (long it = 0; it < iters; ++it) {
    w = _mm256_xor_si256(w, flip);
    for (int i = 0; i < 12; ++i) {
      const __m256i xa = _mm256_sign_epi8(x[i], x[i]), ws = _mm256_sign_epi8(w, x[i]);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, ws), ones);
      a[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, a[i]);
    }
  }
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm256_cvtss_f32(a[i]);
  return s;
}

#pragma GCC diagnostic push  // GCC 12's AVX-512 intrinsics pass undefined vectors through
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// The 512-bit VNNI tile's work per activation row and pair of output rows (64 multiply-adds):
// vpdpbusd from the weights' correction, convert, the scale product, FMA; 12 chains.
__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))) float int8_dot_loop_vnni512(
    long iters) {
  __m512 a[12];
  __m512i x[12];
  for (int i = 0; i < 12; ++i) {
    a[i] = _mm512_setzero_ps();
    x[i] = _mm512_set1_epi8(static_cast<char>(i + 129));
  }
  const __m512i flip = _mm512_set1_epi32(5), n = _mm512_set1_epi32(-1000);
  const __m512 d = _mm512_set1_ps(1e-6f), xs = _mm512_set1_ps(0.5f);
  __m512i w = _mm512_set1_epi8(3);
  for (long it = 0; it < iters; ++it) {
    w = _mm512_xor_si512(w, flip);
    for (int i = 0; i < 12; ++i)
      a[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(n, x[i], w)),
                             _mm512_mul_ps(xs, d), a[i]);
  }
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm512_cvtss_f32(a[i]);
  return s;
}
#pragma GCC diagnostic pop

// Int8 multiply-adds per second, counted as 2 ops each like FLOPs, so that the int8 GEMM's
// "GFLOP/s" (2 M N K per second) divides by it directly.
double int8_peak_gops(int threads) {
  if (!bg::simd_enabled()) return 0;
  const bool vnni = bg::avx512_vnni_enabled();
  return peak_gops(threads, 5000000, 2.0 * (vnni ? 64 : 32) * 12,
                   vnni ? int8_dot_loop_vnni512 : int8_dot_loop);
}

// Memory traffic of a large copy (read + written bytes per second, STREAM's convention),
// `threads` threads each copying its own 64 MiB, far beyond the caches; best of 3.
double copy_traffic_gb_s(int threads) {
  const size_t n = size_t{64} << 20;
  std::vector<std::vector<char>> src(threads, std::vector<char>(n, 1)), dst(threads, std::vector<char>(n, 0));
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> ts;
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { std::memcpy(dst[t].data(), src[t].data(), n); });
    for (auto& t : ts) t.join();
    best = std::max(best, 2.0 * n * threads / secs(t0) / 1e9);
  }
  return best;
}

// Sum of n bytes (n a multiple of 128) as 64-bit lanes with AVX2 loads, four chains.
__attribute__((target("avx2"))) long long sum_avx2(const char* buf, size_t n) {
  const __m256i* p = reinterpret_cast<const __m256i*>(buf);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n / 32; i += 4) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(p + i));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(p + i + 1));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(p + i + 2));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(p + i + 3));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  return _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) + _mm256_extract_epi64(s, 2) +
         _mm256_extract_epi64(s, 3);
}

// Read bandwidth: `threads` threads each summing its own 128 MiB (decode only reads its
// weights, so this, not the copy, is its ceiling); best of 3. Needs AVX2.
double read_gb_s(int threads) {
  const size_t n = size_t{128} << 20;
  std::vector<std::vector<char, bg::AlignedAlloc<char>>> bufs(
      threads, std::vector<char, bg::AlignedAlloc<char>>(n, 1));
  std::vector<long long> sums(threads);
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> ts;
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { sums[t] = sum_avx2(bufs[t].data(), n); });
    for (auto& t : ts) t.join();
    best = std::max(best, static_cast<double>(n) * threads / secs(t0) / 1e9);
  }
  static volatile long long sink;  // the sums are used, so the loads cannot be dropped
  for (const long long v : sums) sink = sink + v;
  return best;
}

double rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

// Size of the checkpoint's safetensors files.
double checkpoint_mb(const std::string& dir) {
  double b = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") b += static_cast<double>(e.file_size());
  return b / (1 << 20);
}

// The output JSON object, fields in the order they were measured: a new measurement adds its
// fields where it is taken.
class Report {
 public:
  void add(const std::string& key, double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    fields_.push_back({key, buf});
  }
  void add(const std::string& key, long long v) { fields_.push_back({key, std::to_string(v)}); }
  void add(const std::string& key, const std::string& v) { fields_.push_back({key, "\"" + v + "\""}); }
  std::string json() const {
    std::ostringstream o;
    o << "{";
    for (size_t i = 0; i < fields_.size(); ++i)
      o << (i ? ", " : "") << "\"" << fields_[i].first << "\": " << fields_[i].second;
    o << "}";
    return o.str();
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::vector<int> tokens(int n, int seed, int vocab) {
  std::vector<int> v(n);
  uint64_t s = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<int>((s >> 33) % static_cast<uint64_t>(vocab - 3));
  }
  return v;
}

std::shared_ptr<bg::Request> run(bg::Engine& e, std::shared_ptr<bg::Request> r) {
  bg::Status st = e.validate(*r);
  if (st.ok()) st = e.submit(r);
  if (!st.ok()) throw bg::Error("bench request rejected: " + st.message);
  if (r->kind == bg::Request::Generate) {
    bg::GenEvent ev;
    while (r->next_event(&ev, std::chrono::seconds(600)) && !ev.done) {
    }
  }
  r->wait_finished(std::chrono::seconds(600));
  if (!r->status.ok()) throw bg::Error("bench request failed: " + r->status.message);
  return r;
}

// --compare-normalize: one ranking's Score call (single-token answers, the prefix already
// cached, as for a member ranked again) with labels-only normalization, which computes the
// output layer for the answer rows alone, against full-vocabulary normalization, which computes
// all V rows for every candidate. Rounds alternate the two and the best of each counts.
void compare_score_normalization(bg::Engine& engine, int V, int prefix, int cands, int cand_toks,
                                 int rounds, Report& rep) {
  bg::ScoreSpec spec;
  spec.prefix = tokens(prefix, 7, V);
  for (int i = 0; i < cands; ++i) spec.candidates.push_back(tokens(cand_toks, 300 + i, V));
  spec.labels = {{11}, {12}, {13}};
  auto score = [&](bool labels_only) {
    auto r = std::make_shared<bg::Request>();
    r->kind = bg::Request::Score;
    r->score = spec;
    r->score.labels_only = labels_only;
    const auto t0 = Clock::now();
    const double c0 = cpu_secs();
    r = run(engine, r);
    std::cerr << "  computed " << r->usage.computed << " tokens, cached " << r->usage.cached << "\n";
    return std::pair<double, double>{secs(t0), cpu_secs() - c0};
  };
  score(true);  // fills the prefix cache: every timed call below finds the prefix there
  double best[2] = {1e300, 1e300}, best_cpu[2] = {1e300, 1e300};
  for (int round = 0; round < rounds; ++round) {
    for (int j = 0; j < 2; ++j) {
      const int mode = (round + j) % 2;  // 0 labels-only, 1 full vocabulary; order alternates
      const auto [t, cpu] = score(mode == 0);
      best[mode] = std::min(best[mode], t);
      best_cpu[mode] = std::min(best_cpu[mode], cpu);
      std::cerr << "round " << round << ": " << (mode == 0 ? "labels-only" : "full-vocab") << " "
                << cands << " items in " << t << " s\n";
    }
  }
  rep.add("score_labels_only_items_s", cands / best[0], 3);
  rep.add("score_full_vocab_items_s", cands / best[1], 3);
  rep.add("labels_only_speedup", best[1] / best[0], 3);
  rep.add("labels_only_speedup_cpu_time", best_cpu[1] / best_cpu[0], 3);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int threads = 2, prefix = 1500, cands = 50, cand_toks = 40, naive_items = 2, rounds = 3;
  bool compare_normalize = false;
  bg::WeightType weights = bg::WeightType::F32;
  bool bf16_act = false;
  for (int i = 1; i < argc; i += 2) {
    if (std::string(argv[i]) == "--compare-normalize") {
      compare_normalize = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "brewgate-bench: " << argv[i] << " needs a value\n";
      return 2;
    }
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") dir = v;
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--prefix") prefix = std::stoi(v);
    else if (a == "--candidates") cands = std::stoi(v);
    else if (a == "--candidate-tokens") cand_toks = std::stoi(v);
    else if (a == "--naive-items") naive_items = std::stoi(v);
    else if (a == "--rounds") rounds = std::stoi(v);
    else if (a == "--weights") {
      if (!bg::weight_type_from_name(v, &weights)) {
        std::cerr << "brewgate-bench: --weights: expected f32, bf16, f16 or int8, got '" << v << "'\n";
        return 2;
      }
    }
    else if (a == "--activations") {
      if (!bg::activations_from_name(v, &bf16_act)) {
        std::cerr << "brewgate-bench: --activations: expected f32 or bf16, got '" << v << "'\n";
        return 2;
      }
    }
    else {
      std::cerr << "brewgate-bench: unknown flag " << a << "\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::cerr << "usage: brewgate-bench --model DIR [--threads N]\n";
    return 2;
  }
  try {
    std::string name;
    int64_t num_params = 0;
    // The checkpoint stays mapped only while the backend is built, as in the sidecar.
    std::unique_ptr<bg::CpuBackend> owned = [&] {
      const bg::Model m = bg::load_model(dir);
      name = m.name;
      num_params = m.num_params;
      return std::make_unique<bg::CpuBackend>(m, threads, weights, bf16_act);
    }();
    bg::CpuBackend& be = *owned;
    const bg::ModelConfig& c = be.config();
    const int V = c.vocab;
    const std::string wname = bg::weight_type_name(weights);
    std::cerr << "model " << c.architecture << " " << num_params / 1e6 << "M params, "
              << threads << " threads, simd "
              << (bg::avx512_enabled() ? "avx512" : bg::simd_enabled() ? "avx2" : "scalar")
              << ", weights " << wname << ", activations " << (bf16_act ? "bf16" : "f32") << "\n";
    Report rep;
    rep.add("model", name);
    rep.add("weights", wname);
    rep.add("activations", bf16_act ? "bf16" : "f32");
    rep.add("threads", static_cast<long long>(threads));
    // Loading holds the backend's weights plus about one tensor of the mapped checkpoint.
    const double ckpt_mb = checkpoint_mb(dir), load_rss = rss_mb();
    rep.add("checkpoint_mb", ckpt_mb, 0);
    rep.add("weight_mb", be.weight_bytes() / 1048576.0, 0);
    rep.add("load_rss_mb", load_rss, 0);
    rep.add("load_rss_over_checkpoint", load_rss / ckpt_mb, 2);
    std::cerr << "checkpoint " << ckpt_mb << " MB, weights " << be.weight_bytes() / 1048576.0
              << " MB, peak RSS after load " << load_rss << " MB\n";
    const bool int8 = weights == bg::WeightType::Int8;
    const bool dot = bf16_act && bg::bf16_dot_enabled();

    // The type's peak and the prefill GEMMs (one layer's shapes at M = 512 rows) are measured
    // alternately, best of several rounds each, so that load from other processes on a shared
    // machine hits both about equally and the ratio stays meaningful.
    double peak = 0, gemm_gflops = 0;
    {
      const int M = 512;
      const bg::CpuLayer& w = be.layer(0);
      std::vector<const bg::PackedMatrix*> mats = {&w.qkv, &w.o, &w.gate_up, &w.down};
      if (c.experts > 0) mats = {&w.qkv, &w.o, &w.expert_gate_up[0], &w.expert_down[0]};
      size_t maxk = 0, maxn = 0;
      for (auto* m : mats) maxk = std::max<size_t>(maxk, m->k), maxn = std::max<size_t>(maxn, m->n);
      std::vector<float> x(M * maxk, 0.01f), y(M * maxn);
      for (int round = 0; round < 8; ++round) {
        peak = std::max(peak, int8  ? int8_peak_gops(threads)
                              : dot ? bf16_dot_peak_gflops(threads)
                                    : fma_peak_gflops(threads));
        double flops = 0;
        const auto t0 = Clock::now();
        for (auto* m : mats) {
          bg::gemm(x.data(), M, m->k, *m, y.data(), m->n, be.pool());
          flops += 2.0 * M * m->n * m->k;
        }
        gemm_gflops = std::max(gemm_gflops, flops / secs(t0) / 1e9);
      }
      std::cerr << (int8 ? "int8 block-dot peak " : dot ? "bf16 dot peak " : "fma peak ") << peak
                << " GOP/s; prefill gemm " << gemm_gflops << " GFLOP/s ("
                << 100 * gemm_gflops / peak << "% of peak)\n";
    }
    rep.add(int8 ? "int8_dot_peak_gops" : dot ? "bf16_dot_peak_gflops" : "fma_peak_gflops", peak, 1);
    rep.add("prefill_matmul_gflops", gemm_gflops, 1);
    rep.add("prefill_matmul_fraction_of_peak", peak > 0 ? gemm_gflops / peak : 0.0, 3);

    bg::EngineOptions opt;
    opt.kv_budget_bytes = size_t{2048} << 20;
    bg::Engine engine(be, opt);
    if (compare_normalize) {
      compare_score_normalization(engine, V, prefix, cands, cand_toks, rounds, rep);
      engine.shutdown();
      rep.add("peak_rss_mb", rss_mb(), 0);
      rep.add("prefix_tokens", static_cast<long long>(prefix));
      rep.add("candidates", static_cast<long long>(cands));
      rep.add("candidate_tokens", static_cast<long long>(cand_toks));
      rep.add("rounds", static_cast<long long>(rounds));
      std::printf("%s\n", rep.json().c_str());
      return 0;
    }

    // Prefill and decode through the engine, best of --rounds (fresh prompts each round, so
    // the prefix cache never helps): a shared machine slows single runs at random.
    double prefill_tok_s = 0, decode_tok_s = 0;
    for (int round = 0; round < rounds; ++round) {
      auto r = std::make_shared<bg::Request>();
      r->kind = bg::Request::Generate;
      r->generate.prompt = tokens(512, 1 + 10 * round, V);
      r->generate.max_tokens = 1;
      r = run(engine, r);
      prefill_tok_s = std::max(prefill_tok_s, 512 / (r->timings.prefill_ms / 1e3));
      auto d = std::make_shared<bg::Request>();
      d->kind = bg::Request::Generate;
      d->generate.prompt = tokens(64, 2 + 10 * round, V);
      d->generate.max_tokens = 65;
      d->generate.stop_ids = {};
      d = run(engine, d);
      const int n = static_cast<int>(d->usage.completion);
      decode_tok_s = std::max(decode_tok_s, (n - 1) / (d->timings.decode_ms / 1e3));
      std::cerr << "round " << round << ": prefill " << 512 / (r->timings.prefill_ms / 1e3)
                << " tok/s, decode " << (n - 1) / (d->timings.decode_ms / 1e3) << " tok/s (" << n
                << " tokens)\n";
    }
    rep.add("prefill_tok_s", prefill_tok_s, 1);
    rep.add("decode_tok_s", decode_tok_s, 2);
    // Decode streams every linear layer's weights once per token (batch 1).
    const double decode_gb_s = be.weight_bytes_per_token() * decode_tok_s / 1e9;
    rep.add("decode_weight_gb_s", decode_gb_s, 2);

    // Scoring behind a shared prefix, against the same items as independent full prompts.
    // Rounds alternate the two, each with a fresh prefix (nothing cached across rounds), and
    // the best round of each counts: the machine is shared, and alternating exposes both to
    // the same interference.
    double score_items_s = 0, naive_items_s = 0;
    double score_cpu = 1e300, naive_cpu = 1e300;  // best CPU seconds per item
    for (int round = 0; round < rounds; ++round) {
      bg::ScoreSpec spec;
      spec.prefix = tokens(prefix, 1000 + round, V);
      for (int i = 0; i < cands; ++i) spec.candidates.push_back(tokens(cand_toks, 100 + i, V));
      spec.labels = {{11}, {12}, {13, 14}};
      auto r = std::make_shared<bg::Request>();
      r->kind = bg::Request::Score;
      r->score = spec;
      auto t0 = Clock::now();
      double c0 = cpu_secs();
      r = run(engine, r);
      const double t = secs(t0);
      score_cpu = std::min(score_cpu, (cpu_secs() - c0) / cands);
      score_items_s = std::max(score_items_s, cands / t);
      std::cerr << "round " << round << ": score " << cands << " items in " << t << " s (computed "
                << r->usage.computed << " tokens, cached " << r->usage.cached << ")";
      double total = 0;
      c0 = cpu_secs();
      for (int i = 0; i < naive_items; ++i) {
        // The whole prompt as the candidate, with an empty prefix: nothing is shared or cached.
        auto n = std::make_shared<bg::Request>();
        n->kind = bg::Request::Score;
        std::vector<int> full = spec.prefix;
        full.insert(full.end(), spec.candidates[i].begin(), spec.candidates[i].end());
        n->score.candidates = {full};
        n->score.labels = spec.labels;
        t0 = Clock::now();
        run(engine, n);
        total += secs(t0);
      }
      naive_items_s = std::max(naive_items_s, naive_items / total);
      naive_cpu = std::min(naive_cpu, (cpu_secs() - c0) / naive_items);
      std::cerr << "; naive " << naive_items << " items in " << total << " s\n";
    }
    rep.add("score_items_s", score_items_s, 3);
    rep.add("score_items_s_naive", naive_items_s, 3);
    rep.add("shared_prefix_speedup", score_items_s / naive_items_s, 2);
    rep.add("shared_prefix_speedup_cpu_time", naive_cpu / score_cpu, 2);
    engine.shutdown();
    // Read before the copy benchmark, whose buffers would otherwise be the peak.
    rep.add("peak_rss_mb", rss_mb(), 0);
    const double copy = copy_traffic_gb_s(threads);
    std::cerr << "decode streams " << decode_gb_s << " GB/s of weights; memory copy " << copy
              << " GB/s (read + write)\n";
    rep.add("copy_traffic_gb_s", copy, 2);
    rep.add("decode_fraction_of_copy", decode_gb_s / copy, 3);
    const double read = bg::simd_enabled() ? read_gb_s(threads) : 0;
    std::cerr << "memory read " << read << " GB/s\n";
    rep.add("read_gb_s", read, 2);
    rep.add("decode_fraction_of_read", read > 0 ? decode_gb_s / read : 0.0, 3);
    rep.add("num_params", static_cast<long long>(num_params));
    rep.add("prefix_tokens", static_cast<long long>(prefix));
    rep.add("candidates", static_cast<long long>(cands));
    rep.add("candidate_tokens", static_cast<long long>(cand_toks));
    rep.add("naive_items_per_round", static_cast<long long>(naive_items));
    rep.add("rounds", static_cast<long long>(rounds));
    std::printf("%s\n", rep.json().c_str());
  } catch (const bg::Error& e) {
    std::cerr << "brewgate-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
