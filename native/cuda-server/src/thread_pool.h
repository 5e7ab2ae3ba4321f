// A fixed set of worker threads for data-parallel loops on the engine thread's behalf.
#pragma once

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
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int, int)>* fn_ = nullptr;
  int total_ = 0;
  long generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace bg
