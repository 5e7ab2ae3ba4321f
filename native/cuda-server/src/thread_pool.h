// A fixed set of worker threads for data-parallel loops on the engine thread's behalf.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bg {

class ThreadPool {
 public:
  // `n` threads in total, counting the caller of parallel_for, which does a share of the work.
  explicit ThreadPool(int n);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }
  // Calls fn(begin, end) over a static split of [0, n) into at most size() contiguous ranges
  // and returns when all have finished. Not reentrant: one caller at a time.
  void parallel_for(int n, const std::function<void(int, int)>& fn);

 private:
  void worker(int idx);
  int n_;
  // How long an idle worker polls for the next loop before it sleeps on cv_. A decode token is
  // ~60 loops of 10-300 us each, and waking a sleeping thread costs ~10 us (more under a
  // hypervisor) on both sides of each loop; polling through the gaps removes that. Zero when
  // there are more threads than cores, where a polling worker would take a core from one
  // that has work.
  long spin_ns_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int, int)>* fn_ = nullptr;
  int total_ = 0;
  // Bumped (after fn_ and total_ are set) to start a loop; workers poll or sleep on it.
  std::atomic<long> generation_{0};
  std::atomic<int> pending_{0};   // workers still in the current loop
  std::atomic<int> sleepers_{0};  // workers inside (or entering) cv_.wait
  std::atomic<bool> stop_{false};
};

}  // namespace bg
