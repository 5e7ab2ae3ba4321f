// brewgate-bench: CPU backend throughput on one model, printed as one JSON line at the end.
//   brewgate-bench --model DIR [--threads N] [--prefix 1500] [--candidates 50]
//                  [--candidate-tokens 40] [--naive-items 2] [--rounds 3]
// Measures: an FMA-loop fp32 peak; the prefill GEMMs alone; prefill and decode through the
// engine; scoring candidates behind one shared prefix through the engine (prefix computed
// once) against scoring each candidate as an independent full prompt. The naive rate is
// measured on --naive-items items per round, since 50 full prompts would take minutes.
#include <immintrin.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
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

double fma_peak_gflops(int threads) {
  if (!bg::simd_enabled()) return 0;
  const long iters = 20000000;
  std::vector<std::thread> ts;
  std::atomic<float> sink{0};
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) ts.emplace_back([&] { sink = sink + fma_loop(iters); });
  for (auto& t : ts) t.join();
  return 2.0 * 8 * 12 * iters * threads / secs(t0) / 1e9;
}

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

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int threads = 2, prefix = 1500, cands = 50, cand_toks = 40, naive_items = 2, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") dir = v;
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--prefix") prefix = std::stoi(v);
    else if (a == "--candidates") cands = std::stoi(v);
    else if (a == "--candidate-tokens") cand_toks = std::stoi(v);
    else if (a == "--naive-items") naive_items = std::stoi(v);
    else if (a == "--rounds") rounds = std::stoi(v);
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
      return std::make_unique<bg::CpuBackend>(m, threads);
    }();
    bg::CpuBackend& be = *owned;
    const bg::ModelConfig& c = be.config();
    const int V = c.vocab;
    std::cerr << "model " << c.architecture << " " << num_params / 1e6 << "M params, "
              << threads << " threads, simd " << (bg::simd_enabled() ? "avx2" : "scalar") << "\n";

    // The FMA peak and the prefill GEMMs (one layer's shapes at M = 512 rows) are measured
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
        peak = std::max(peak, fma_peak_gflops(threads));
        double flops = 0;
        const auto t0 = Clock::now();
        for (auto* m : mats) {
          bg::gemm(x.data(), M, m->k, *m, y.data(), m->n, be.pool());
          flops += 2.0 * M * m->n * m->k;
        }
        gemm_gflops = std::max(gemm_gflops, flops / secs(t0) / 1e9);
      }
      std::cerr << "fma peak " << peak << " GFLOP/s; prefill gemm " << gemm_gflops
                << " GFLOP/s (" << 100 * gemm_gflops / peak << "% of peak)\n";
    }

    bg::EngineOptions opt;
    opt.kv_budget_bytes = size_t{2048} << 20;
    bg::Engine engine(be, opt);

    // Prefill and decode through the engine.
    double prefill_tok_s, decode_tok_s;
    {
      auto r = std::make_shared<bg::Request>();
      r->kind = bg::Request::Generate;
      r->generate.prompt = tokens(512, 1, V);
      r->generate.max_tokens = 1;
      r = run(engine, r);
      prefill_tok_s = 512 / (r->timings.prefill_ms / 1e3);
      auto d = std::make_shared<bg::Request>();
      d->kind = bg::Request::Generate;
      d->generate.prompt = tokens(64, 2, V);
      d->generate.max_tokens = 65;
      d->generate.stop_ids = {};
      d = run(engine, d);
      const int n = static_cast<int>(d->usage.completion);
      decode_tok_s = (n - 1) / (d->timings.decode_ms / 1e3);
      std::cerr << "prefill " << prefill_tok_s << " tok/s, decode " << decode_tok_s
                << " tok/s (" << n << " tokens)\n";
    }

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
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "{\"model\": \"%s\", \"threads\": %d, \"prefill_tok_s\": %.1f, \"decode_tok_s\": %.2f, "
        "\"score_items_s\": %.3f, \"score_items_s_naive\": %.3f, \"shared_prefix_speedup\": %.2f, \"shared_prefix_speedup_cpu_time\": %.2f, "
        "\"peak_rss_mb\": %.0f, \"fma_peak_gflops\": %.1f, \"prefill_matmul_gflops\": %.1f, "
        "\"prefill_matmul_fraction_of_peak\": %.3f, \"num_params\": %lld, \"prefix_tokens\": %d, "
        "\"candidates\": %d, \"candidate_tokens\": %d, \"naive_items_per_round\": %d, \"rounds\": %d}\n",
        name.c_str(), threads, prefill_tok_s, decode_tok_s, score_items_s,
        naive_items_s, score_items_s / naive_items_s, naive_cpu / score_cpu, ru.ru_maxrss / 1024.0, peak, gemm_gflops,
        peak > 0 ? gemm_gflops / peak : 0.0, static_cast<long long>(num_params), prefix,
        cands, cand_toks, naive_items, rounds);
    engine.shutdown();
  } catch (const bg::Error& e) {
    std::cerr << "brewgate-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
