#include "metrics.h"

namespace bg {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// The `outcome` label, indexed by Code.
constexpr std::array<const char*, kCodes> kOutcomes = {
    "ok", "invalid", "resource_exhausted", "deadline", "cancelled", "unavailable"};
static_assert(static_cast<int>(Code::Unavailable) == kCodes - 1);

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  auto& requests = BuildCounter()
                       .Name("brewgate_sidecar_requests_total")
                       .Help("Score and Generate calls by how they ended: ok, invalid "
                             "(INVALID_ARGUMENT), resource_exhausted (can never fit the KV "
                             "budget), deadline, cancelled (by the client or Abort), unavailable "
                             "(shutting down)")
                       .Register(r);
  // Every series exists from the start, so rate() sees the first call of each kind.
  for (int rpc = 0; rpc < 2; ++rpc)
    for (int c = 0; c < kCodes; ++c)
      requests_[rpc][c] = &requests.Add({{"rpc", rpc == 0 ? "score" : "generate"},
                                         {"outcome", kOutcomes[c]}});
  queue_depth_ = &BuildGauge()
                      .Name("brewgate_sidecar_queue_depth")
                      .Help("Requests submitted and waiting to be admitted (for KV memory or a "
                            "free --max-batch slot)")
                      .Register(r)
                      .Add({});
  running_ = &BuildGauge()
                  .Name("brewgate_sidecar_running_requests")
                  .Help("Requests admitted and being worked on")
                  .Register(r)
                  .Add({});
  step_tokens_ = &BuildHistogram()
                      .Name("brewgate_sidecar_step_tokens")
                      .Help("Tokens computed per engine step (one forward call, all requests)")
                      .Register(r)
                      .Add({}, prometheus::Histogram::BucketBoundaries{
                                   1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192});
  step_seconds_ = &BuildHistogram()
                       .Name("brewgate_sidecar_step_seconds")
                       .Help("Wall time of one engine step: packing the batch and the forward "
                             "call (the sampling and scoring after it excluded)")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{
                                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5, 5, 10});
  prefill_tokens_ = &BuildCounter()
                         .Name("brewgate_sidecar_prefill_tokens_total")
                         .Help("Prompt tokens computed (Score: prefix, candidates and "
                               "teacher-forced label tokens; Generate: the prompt), prefix-cache "
                               "hits excluded")
                         .Register(r)
                         .Add({});
  decode_tokens_ = &BuildCounter()
                        .Name("brewgate_sidecar_decode_tokens_total")
                        .Help("Generated tokens fed back through the model to produce the next")
                        .Register(r)
                        .Add({});
  generated_tokens_ = &BuildCounter()
                           .Name("brewgate_sidecar_generated_tokens_total")
                           .Help("Tokens Generate emitted")
                           .Register(r)
                           .Add({});
  prefix_hit_tokens_ = &BuildCounter()
                            .Name("brewgate_sidecar_prefix_cache_hit_tokens_total")
                            .Help("Tokens looked up in the prefix cache (Score: the prefix; "
                                  "Generate: the prompt but its last token) whose KV was found")
                            .Register(r)
                            .Add({});
  prefix_miss_tokens_ = &BuildCounter()
                             .Name("brewgate_sidecar_prefix_cache_miss_tokens_total")
                             .Help("Tokens looked up in the prefix cache whose KV was not found "
                                   "(a partial last block never is)")
                             .Register(r)
                             .Add({});
  auto kv = [&](const char* name, const char* help) -> prometheus::Gauge& {
    return BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  kv_used_ = &kv("brewgate_sidecar_kv_blocks_used",
                 "KV blocks not free: held by requests or by the prefix cache (total = used + "
                 "free)");
  kv_free_ = &kv("brewgate_sidecar_kv_blocks_free", "KV blocks on the free list");
  kv_cached_ = &kv("brewgate_sidecar_kv_blocks_cached",
                   "KV blocks the prefix cache holds; those no request holds too are evicted "
                   "when the free list runs dry");
}

void Metrics::request_done(Rpc rpc, Code code) {
  requests_[static_cast<int>(rpc)][static_cast<int>(code)]->Increment();
}

void Metrics::queued() { queue_depth_->Increment(); }
void Metrics::dequeued() { queue_depth_->Decrement(); }
void Metrics::set_running(int requests) { running_->Set(requests); }

void Metrics::step(int tokens, double seconds) {
  step_tokens_->Observe(tokens);
  step_seconds_->Observe(seconds);
}

void Metrics::computed(int prefill, int decode) {
  prefill_tokens_->Increment(prefill);
  decode_tokens_->Increment(decode);
}

void Metrics::generated(int tokens) { generated_tokens_->Increment(tokens); }

void Metrics::prefix_lookup(int looked_up, int hit) {
  prefix_hit_tokens_->Increment(hit);
  prefix_miss_tokens_->Increment(looked_up - hit);
}

void Metrics::kv_blocks(int used, int free, int cached) {
  kv_used_->Set(used);
  kv_free_->Set(free);
  kv_cached_->Set(cached);
}

}  // namespace bg
