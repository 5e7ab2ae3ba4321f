#include "thread_pool.h"

namespace bg {

ThreadPool::ThreadPool(int n) : n_(n < 1 ? 1 : n) {
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

static void range_of(int idx, int parts, int n, int* b, int* e) {
  *b = static_cast<int>(static_cast<long>(n) * idx / parts);
  *e = static_cast<int>(static_cast<long>(n) * (idx + 1) / parts);
}

void ThreadPool::parallel_for(int n, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  if (n_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = &fn;
    total_ = n;
    pending_ = n_ - 1;
    ++generation_;
  }
  cv_.notify_all();
  int b, e;
  range_of(0, n_, n, &b, &e);
  if (b < e) fn(b, e);
  std::unique_lock<std::mutex> lk(mu_);
  done_cv_.wait(lk, [this] { return pending_ == 0; });
  fn_ = nullptr;
}

void ThreadPool::worker(int idx) {
  long seen = 0;
  for (;;) {
    const std::function<void(int, int)>* fn;
    int total;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      total = total_;
    }
    int b, e;
    range_of(idx, n_, total, &b, &e);
    if (b < e) (*fn)(b, e);
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace bg
