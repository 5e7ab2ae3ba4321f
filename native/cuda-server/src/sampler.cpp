#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace bg {

uint64_t Rng::next() {  // splitmix64
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

int sample(const std::vector<float>& logits, const SamplingParams& p, Rng& rng) {
  const int v = static_cast<int>(logits.size());
  if (p.temperature <= 0.f)
    return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int> order(v);
  std::iota(order.begin(), order.end(), 0);
  const int k = (p.top_k > 0 && p.top_k < v) ? p.top_k : v;
  auto by_logit = [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (k < v) std::partial_sort(order.begin(), order.begin() + k, order.end(), by_logit);
  else std::sort(order.begin(), order.end(), by_logit);
  order.resize(k);
  std::vector<double> prob(k);  // (k,) descending
  const double mx = logits[order[0]] / p.temperature;
  double sum = 0;
  for (int i = 0; i < k; ++i) sum += prob[i] = std::exp(logits[order[i]] / p.temperature - mx);
  int keep = k;
  if (p.top_p > 0.f && p.top_p < 1.f) {
    double cum = 0;
    for (int i = 0; i < k; ++i) {
      cum += prob[i] / sum;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0;
  for (int i = 0; i < keep; ++i) total += prob[i];
  double u = rng.uniform() * total;
  for (int i = 0; i < keep; ++i) {
    u -= prob[i];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace bg
