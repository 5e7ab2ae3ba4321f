// The engine: one thread owns the backend (weights, KV memory) and the KV bookkeeping.
// Request handlers (gRPC threads) validate and parse into a `Request`, submit it, and wait on
// it; the engine thread admits requests under the KV budget, batches the work of all active
// requests into each forward step (continuous batching), and pushes results back.
// This is the llama.cpp server pattern: no lock is ever held around model compute.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "kv_cache.h"
#include "metrics.h"
#include "sampler.h"
#include "status.h"
#include "trace_context.h"

namespace bg {

using Clock = std::chrono::steady_clock;

enum class FinishReason { Stop = 1, Length = 2, Cancelled = 3, Deadline = 4 };

struct Usage {
  uint32_t prompt = 0, cached = 0, computed = 0, completion = 0;
};

struct Timings {
  double queue_ms = 0, prefill_ms = 0, decode_ms = 0, total_ms = 0;
};

struct ScoreSpec {
  std::vector<int> prefix;                   // (P,)
  std::vector<std::vector<int>> candidates;  // per candidate (S_c,)
  std::vector<std::vector<int>> labels;      // per label (len_l,)
  bool labels_only = false;                  // label-restricted softmax instead of full vocab
};

struct GenerateSpec {
  std::vector<int> prompt;  // (P,)
  int max_tokens = 256;
  SamplingParams sampling;
  std::vector<int> stop_ids;  // besides the model's eos ids
};

struct GenEvent {
  bool done = false;
  int token = -1;
  float logprob = 0.f;
  FinishReason reason = FinishReason::Stop;
  Usage usage;
  Timings timings;
};

// One request, shared by the handler thread that waits on it and the engine thread.
class Request {
 public:
  enum Kind { Score, Generate } kind = Score;
  std::string id;                                  // empty: not abortable by id
  Clock::time_point deadline = Clock::time_point::max();
  // Set by Engine::submit. Timings count from here, so a request that arrives while a step is
  // running has its wait for that step in queue_ms.
  Clock::time_point submitted;
  ScoreSpec score;
  GenerateSpec generate;
  TraceParent trace;  // the caller's W3C traceparent, for the log line; empty: none

  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Handler side. Generate: next event, false on timeout. Score: true once finished.
  bool next_event(GenEvent* ev, std::chrono::milliseconds timeout);
  bool wait_finished(std::chrono::milliseconds timeout);
  // Valid after finish (Score): status, then per candidate per label log-probs.
  Status status;
  std::vector<std::vector<float>> logprobs;  // (candidates, labels)
  Usage usage;
  Timings timings;

  // Engine side.
  void push(const GenEvent& ev);
  void finish(Status s);
  bool finished();

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenEvent> events_;
  bool finished_ = false;
};

struct EngineOptions {
  int block_tokens = 16;
  size_t kv_budget_bytes = size_t{1} << 30;
  // Tokens per forward step, across requests. Bounds how long decode tokens, cancellation
  // and deadlines wait behind a prefill; 512 rows already keep the GEMM near peak.
  int max_batch_tokens = 512;
  int max_active = 64;          // requests worked on concurrently
  // Score with single-token labels runs all candidates as one sequence after the prefix under
  // the item-aware mask (backend.h SeqChunk), so candidates ride shared steps and the prefix
  // KV is read once per step rather than once per candidate. Multi-token labels need each
  // candidate's own KV to branch from, and use per-candidate forks either way.
  bool multi_item_scoring = true;
  bool log = false;             // one stderr line per finished request
  // Where the engine counts its work; null: a registry of its own (Engine::metrics()).
  std::shared_ptr<Metrics> metrics;
};

class Engine {
 public:
  Engine(Backend& backend, EngineOptions opt);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Checks ids, lengths and KV need; a non-OK status means do not submit.
  Status validate(Request& r) const;
  // Queues a validated request. Fails (INVALID_ARGUMENT) if its id is already in flight,
  // (UNAVAILABLE) after shutdown began.
  Status submit(const std::shared_ptr<Request>& r);
  // Cancels the in-flight request with this id; false if none.
  bool abort(const std::string& id);
  // Cancels everything still queued or running and stops the engine thread.
  void shutdown();

  int total_blocks() const { return kv_.total_blocks(); }
  int block_tokens() const { return kv_.block_tokens(); }
  // Snapshots taken by the engine thread after each loop turn (for tests and logs).
  int cached_blocks() const { return cached_blocks_.load(); }
  int free_blocks() const { return free_blocks_.load(); }
  const Backend& backend() const { return backend_; }
  Metrics& metrics() const { return *metrics_; }

 private:
  struct Stream;
  struct Active;
  void loop();
  int blocks_needed(const Request& r) const;
  bool multi_item(const ScoreSpec& s) const;
  void start(Active& a);
  void step(std::list<std::unique_ptr<Active>>& active);
  void on_output(Active& a, Stream& s, int out, std::vector<float>& logits);
  void on_stream_fed(Active& a, Stream& s);
  void finish(Active& a, Status st, FinishReason reason);

  Backend& backend_;
  EngineOptions opt_;
  std::shared_ptr<Metrics> metrics_;
  KvCache kv_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> incoming_;
  std::map<std::string, std::weak_ptr<Request>> by_id_;
  bool stopping_ = false;
  std::atomic<int> cached_blocks_{0};
  std::atomic<int> free_blocks_{0};
  int reserved_ = 0;  // blocks promised to active requests (engine thread only)
  std::thread thread_;
};

}  // namespace bg
