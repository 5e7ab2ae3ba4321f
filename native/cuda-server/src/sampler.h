// Token sampling from one logits row: greedy, temperature, top-k, top-p, seeded.
#pragma once

#include <cstdint>
#include <vector>

namespace bg {

struct SamplingParams {
  float temperature = 0.f;  // 0: argmax
  int top_k = 0;            // 0: all tokens
  float top_p = 1.f;        // >= 1: no nucleus cut
  uint64_t seed = 0;
};

// A deterministic generator: the same seed gives the same sequence on every platform
// (std:: distributions are implementation-defined, so uniforms are built by hand).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  double uniform();  // [0, 1)

 private:
  uint64_t s_;
};

// Picks a token from logits (V,). Ties in greedy mode go to the lowest id.
int sample(const std::vector<float>& logits, const SamplingParams& p, Rng& rng);

}  // namespace bg
