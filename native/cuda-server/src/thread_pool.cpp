#include "thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bg {

namespace {

using Clock = std::chrono::steady_clock;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

void range_of(int idx, int parts, int n, int* b, int* e) {
  *b = static_cast<int>(static_cast<long>(n) * idx / parts);
  *e = static_cast<int>(static_cast<long>(n) * (idx + 1) / parts);
}

}  // namespace

ThreadPool::ThreadPool(int n) : n_(n < 1 ? 1 : n) {
  const unsigned cores = std::thread::hardware_concurrency();
  spin_ns_ = cores != 0 && static_cast<unsigned>(n_) <= cores ? 1'000'000 : 0;
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::parallel_for(int n, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  if (n_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  fn_ = &fn;
  total_ = n;
  pending_.store(n_ - 1, std::memory_order_relaxed);
  // seq_cst on both sides: either a worker about to sleep sees the new generation in its wait
  // predicate, or this load sees it counted in sleepers_ and wakes it (lock, then notify, so
  // the notify cannot fall between its predicate check and its wait).
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lk(mu_); }
    cv_.notify_all();
  }
  int b, e;
  range_of(0, n_, n, &b, &e);
  if (b < e) fn(b, e);
  // The workers' shares are about as long as ours, so they finish within microseconds: poll,
  // yielding the core after a while in case a worker was descheduled (at once when threads
  // outnumber cores, where the worker may be waiting for this very core).
  int polls = spin_ns_ == 0 ? 0 : 20000;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (polls > 0) {
      --polls;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  fn_ = nullptr;
}

void ThreadPool::worker(int idx) {
  long seen = 0;
  for (;;) {
    // Poll for the next loop, checking the clock only every 64 polls.
    const auto until = Clock::now() + std::chrono::nanoseconds(spin_ns_);
    for (int i = 1; generation_.load(std::memory_order_acquire) == seen && !stop_.load(); ++i) {
      if (spin_ns_ == 0 || (i % 64 == 0 && Clock::now() > until)) {
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lk, [&] {
          return stop_.load() || generation_.load(std::memory_order_seq_cst) != seen;
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
      cpu_relax();
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    int b, e;
    range_of(idx, n_, total_, &b, &e);
    if (b < e) (*fn_)(b, e);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace bg
