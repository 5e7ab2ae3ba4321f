// The engine's metrics against what its requests report: prefill and decode tokens add up to
// Usage.computed_tokens, prefix-cache hits to Usage.cached_tokens, steps to the tokens fed,
// and the queue, running and KV gauges return to rest when the work is done.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cpu_backend.h"
#include "engine.h"
#include "metrics_probe.h"
#include "test_models.h"

namespace bg {
namespace {

using namespace std::chrono_literals;

std::vector<int> ids(int n, int start) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = (start + i * 7) % 2000;
  return v;
}

std::shared_ptr<Request> score(std::vector<int> prefix) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Score;
  r->score.prefix = std::move(prefix);
  r->score.candidates = {ids(3, 500), ids(5, 600)};
  r->score.labels = {{10}, {11, 12}};  // the two-token label teacher-forces one token
  return r;
}

std::shared_ptr<Request> generate(std::vector<int> prompt, int max_tokens) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Generate;
  r->generate.prompt = std::move(prompt);
  r->generate.max_tokens = max_tokens;
  return r;
}

void finish(Engine& e, const std::shared_ptr<Request>& r) {
  ASSERT_TRUE(e.validate(*r).ok());
  ASSERT_TRUE(e.submit(r).ok());
  if (r->kind == Request::Generate) {
    GenEvent ev;
    while (r->next_event(&ev, 30s) && !ev.done) {
    }
  }
  ASSERT_TRUE(r->wait_finished(30s));
  ASSERT_TRUE(r->status.ok()) << r->status.message;
}

void wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 400 && !cond(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(cond());
}

class EngineMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    be_ = std::make_unique<CpuBackend>(load_model(test_model("tiny-llama")), 2);
  }
  std::unique_ptr<Engine> engine(int max_active = 64) {
    EngineOptions o;
    o.kv_budget_bytes = 64 << 20;
    o.max_active = max_active;
    o.metrics = metrics_;
    return std::make_unique<Engine>(*be_, o);
  }
  double m(const std::string& name) { return metric(*metrics_, name); }
  std::unique_ptr<CpuBackend> be_;
  std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
};

TEST_F(EngineMetrics, ScoreTokensAndPrefixCacheMatchUsage) {
  auto e = engine();
  auto first = score(ids(40, 3)), again = score(ids(40, 3));
  finish(*e, first);
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_hit_tokens_total"), 0);
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_miss_tokens_total"), 40);
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total"), first->usage.computed);
  EXPECT_EQ(first->usage.computed, 40 + 3 + 5 + 2 * 1);
  finish(*e, again);
  EXPECT_EQ(again->usage.cached, 32u);  // two full 16-token blocks of the prefix
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_hit_tokens_total"), 32);
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_miss_tokens_total"), 40 + 8);
  const double computed = first->usage.computed + again->usage.computed;
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total"), computed);
  EXPECT_EQ(computed, first->usage.prompt + again->usage.prompt - again->usage.cached);
  EXPECT_EQ(m("brewgate_sidecar_decode_tokens_total"), 0);
  EXPECT_EQ(m("brewgate_sidecar_generated_tokens_total"), 0);
  EXPECT_EQ(m("brewgate_sidecar_step_tokens_sum"), computed);
  const double steps = m("brewgate_sidecar_step_tokens_count");
  EXPECT_GE(steps, 2);  // each request: the prefix, then the candidates after it
  EXPECT_EQ(m("brewgate_sidecar_step_seconds_count"), steps);
  EXPECT_GT(m("brewgate_sidecar_step_seconds_sum"), 0);
  wait_for([&] { return m("brewgate_sidecar_running_requests") == 0; });
  EXPECT_EQ(m("brewgate_sidecar_queue_depth"), 0);
  // The prefix cache keeps the prefix's two full blocks; everything else is free again.
  wait_for([&] { return m("brewgate_sidecar_kv_blocks_used") == 2; });
  EXPECT_EQ(m("brewgate_sidecar_kv_blocks_cached"), 2);
  EXPECT_EQ(m("brewgate_sidecar_kv_blocks_free"), e->total_blocks() - 2);
}

TEST_F(EngineMetrics, GenerateSplitsPrefillFromDecode) {
  auto e = engine();
  auto g = generate(ids(33, 9), 6);
  finish(*e, g);
  const uint32_t n = g->usage.completion;
  ASSERT_GE(n, 1u);
  EXPECT_EQ(m("brewgate_sidecar_generated_tokens_total"), n);
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total"), 33);
  // Every generated token but the last is fed back to produce the next.
  EXPECT_EQ(m("brewgate_sidecar_decode_tokens_total"), n - 1);
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total") + m("brewgate_sidecar_decode_tokens_total"),
            g->usage.computed);
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_miss_tokens_total"), 32);  // the last is never looked up

  // The same prompt again: its first 32 tokens come from the cache and the last prompt token
  // is fed alone, like a decode token, yet it is prefill.
  auto again = generate(ids(33, 9), 6);
  finish(*e, again);
  EXPECT_EQ(again->usage.cached, 32u);
  EXPECT_EQ(m("brewgate_sidecar_prefix_cache_hit_tokens_total"), 32);
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total"), 33 + 1);
  EXPECT_EQ(m("brewgate_sidecar_decode_tokens_total"), (n - 1) + (again->usage.completion - 1));
  EXPECT_EQ(m("brewgate_sidecar_step_tokens_sum"), g->usage.computed + again->usage.computed);
}

TEST_F(EngineMetrics, QueueAndRunningFollowAdmission) {
  auto e = engine(/*max_active=*/1);
  auto busy = generate(ids(20, 1), 3000), waiting = generate(ids(20, 2), 3000);
  ASSERT_TRUE(e->submit(busy).ok());
  GenEvent ev;
  ASSERT_TRUE(busy->next_event(&ev, 10s));  // running
  ASSERT_TRUE(e->submit(waiting).ok());
  wait_for([&] {
    return m("brewgate_sidecar_running_requests") == 1 && m("brewgate_sidecar_queue_depth") == 1 &&
           m("brewgate_sidecar_kv_blocks_used") > 0;
  });
  waiting->cancel();  // leaves the queue without running
  wait_for([&] { return m("brewgate_sidecar_queue_depth") == 0; });
  busy->cancel();
  ASSERT_TRUE(busy->wait_finished(10s));
  ASSERT_TRUE(waiting->wait_finished(10s));
  wait_for([&] { return m("brewgate_sidecar_running_requests") == 0; });
  EXPECT_EQ(m("brewgate_sidecar_queue_depth"), 0);
  // Generated tokens are counted as they are emitted, cancelled requests' too.
  EXPECT_GE(m("brewgate_sidecar_generated_tokens_total"), 1);
}

TEST_F(EngineMetrics, AnEngineWithoutMetricsKeepsItsOwn) {
  EngineOptions o;
  o.kv_budget_bytes = 64 << 20;
  Engine e(*be_, o);
  auto r = score(ids(20, 3));
  finish(e, r);
  EXPECT_EQ(metric(e.metrics(), "brewgate_sidecar_prefill_tokens_total"), r->usage.computed);
  EXPECT_EQ(m("brewgate_sidecar_prefill_tokens_total"), 0);
}

}  // namespace
}  // namespace bg
