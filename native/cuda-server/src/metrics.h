// The sidecar's Prometheus metrics (all named brewgate_sidecar_*), in one registry that main
// serves on --metrics-listen. They are updated where the work happens: on the engine thread
// (steps, tokens, KV blocks, prefix cache, queue) and in the gRPC handlers (how calls ended).
// Every label takes one of a fixed set of values, never a value a client chose.
//
// The counters split one request's tokens so that they add up: prefill + decode tokens are the
// rows the model computed (the sum of Usage.computed_tokens), and prefix-cache hit tokens are
// Usage.cached_tokens. Tokens per second are their rates.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>

#include "status.h"

namespace bg {

enum class Rpc { Score, Generate };

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // gRPC handlers: a Score or Generate call ended with `code`, whether the engine refused it at
  // validation or finished it (a Generate ended by Done{DEADLINE} counts as a deadline).
  void request_done(Rpc rpc, Code code);

  // The engine. queued() when a request is submitted, dequeued() when it leaves the queue
  // (admitted, or ended while waiting); the difference is the queue depth.
  void queued();
  void dequeued();
  void set_running(int requests);
  // One engine step over `tokens` rows (all requests): `seconds` from packing the batch to the
  // forward call's return.
  void step(int tokens, double seconds);
  // Rows computed: prompt tokens (prefill) and generated tokens fed back (decode).
  void computed(int prefill, int decode);
  void generated(int tokens);
  // A prefix-cache lookup over `looked_up` tokens that found the KV of `hit` of them.
  void prefix_lookup(int looked_up, int hit);
  void kv_blocks(int used, int free, int cached);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::array<std::array<prometheus::Counter*, kCodes>, 2> requests_{};  // (rpc, code)
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* running_;
  prometheus::Histogram* step_tokens_;
  prometheus::Histogram* step_seconds_;
  prometheus::Counter* prefill_tokens_;
  prometheus::Counter* decode_tokens_;
  prometheus::Counter* generated_tokens_;
  prometheus::Counter* prefix_hit_tokens_;
  prometheus::Counter* prefix_miss_tokens_;
  prometheus::Gauge* kv_used_;
  prometheus::Gauge* kv_free_;
  prometheus::Gauge* kv_cached_;
};

}  // namespace bg
