// Helpers of the GPU tests (llm.c dev/cuda habits): device buffers, fresh random inputs (never
// zeros), outputs poisoned with NaN before a kernel runs so unwritten elements fail, and the
// tolerance check |a - b| <= atol + rtol * |ref| with a report of the worst element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "dtype.h"
#include "kernels.h"

namespace bg::test {

template <class T>
class DevBuf {
 public:
  explicit DevBuf(size_t n) : n_(n) { cudaCheck(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T))); }
  explicit DevBuf(const std::vector<T>& v) : DevBuf(v.size()) { upload(v); }
  ~DevBuf() { cudaFree(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  T* get() const { return p_; }
  void upload(const std::vector<T>& v) {
    cudaCheck(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    cudaCheck(cudaDeviceSynchronize());
    std::vector<T> v(n_);
    cudaCheck(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  // NaN in every byte pattern that matters: 0xff.. is NaN for fp32 and bf16.
  void poison() { cudaCheck(cudaMemset(p_, 0xff, n_ * sizeof(T))); }

 private:
  T* p_ = nullptr;
  size_t n_;
};

inline std::mt19937& rng() {
  static std::mt19937 g(std::random_device{}());  // fresh inputs every run
  return g;
}

inline std::vector<float> randf(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

// Random values already representable in bf16, as (bits, floats).
inline void rand_bf16(size_t n, std::vector<uint16_t>* bits, std::vector<float>* vals,
                      float scale = 1.f) {
  auto f = randf(n, -scale, scale);
  bits->resize(n);
  vals->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*bits)[i] = f32_to_bf16(f[i]);
    (*vals)[i] = bf16_to_f32((*bits)[i]);
  }
}

inline std::vector<float> from_bf16(const std::vector<uint16_t>& b) {
  std::vector<float> v(b.size());
  for (size_t i = 0; i < b.size(); ++i) v[i] = bf16_to_f32(b[i]);
  return v;
}

// Normalized MSE (llama.cpp test-backend-ops): sum (a - b)^2 / sum b^2.
inline double nmse(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

// Checks every element; reports the count of violations and the worst one. Also bounds the
// normalized MSE (llama.cpp test-backend-ops' op-by-op measure) by 1e-4: bf16 rounding alone
// gives ~1e-6, a wrong element among many correct ones shows up even within tolerance.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& ref, double atol,
                         double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  size_t bad = 0, worst_i = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - ref[i]), lim = atol + rtol * std::fabs(ref[i]);
    if (!(err <= lim)) ++bad;  // NaN fails
    if (!(err <= worst) ) {
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      worst_i = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements out of tolerance; worst at " << worst_i << ": got "
                     << got[worst_i] << ", want " << ref[worst_i];
  const std::vector<float> rf(ref.begin(), ref.end());
  const double e = nmse(got, rf);
  EXPECT_LE(e, 1e-4) << what << ": normalized MSE " << e;
}

}  // namespace bg::test
