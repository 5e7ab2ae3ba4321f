// Backend-independent step geometry: where each chunk token goes in the KV, which RoPE
// position it takes and which KV slots it may attend (plain causal, or multi-item masked);
// and the reductions of a logits row every backend and the engine share.
#include "backend.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace bg {

void chunk_row_spans(const SeqChunk& ch, std::vector<RowSpan>* out) {
  const int n = static_cast<int>(ch.tokens.size());
  if (ch.item_lo.empty()) {
    for (int i = 0; i < n; ++i) out->push_back({ch.start + i, ch.start + i, 0, 0});
    return;
  }
  if (static_cast<int>(ch.item_lo.size()) != n)
    throw Error("multi-item chunk: item_lo has " + std::to_string(ch.item_lo.size()) +
                " entries, expected one per token (" + std::to_string(n) + ")");
  for (int i = 0; i < n; ++i) {
    const int p = ch.start + i, lo = ch.item_lo[i];
    if (p < ch.shared) {  // a prefix token: plain causal, marked by item start 0
      if (lo != 0)
        throw Error("multi-item chunk: prefix token " + std::to_string(i) + " at slot " +
                    std::to_string(p) + " has item start " + std::to_string(lo) + ", expected 0");
      out->push_back({p, p, ch.shared, 0});
      continue;
    }
    // An item starts at or after the shared prefix and at or before its own tokens.
    if (lo < ch.shared || lo > p)
      throw Error("multi-item chunk: token " + std::to_string(i) + " at slot " +
                  std::to_string(p) + " has item start " + std::to_string(lo) +
                  ", expected within [" + std::to_string(ch.shared) + ", " + std::to_string(p) +
                  "]");
    out->push_back({p, ch.shared + p - lo, ch.shared, lo});
  }
}

float logsumexp(const float* x, int n) {
  const float mx = *std::max_element(x, x + n);
  double s = 0;
  for (int i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - mx);
  return mx + static_cast<float>(std::log(s));
}

void argmax_logprob(const float* logits, int v, float out[2]) {
  const int id = static_cast<int>(std::max_element(logits, logits + v) - logits);
  out[0] = static_cast<float>(id);  // exact: vocabularies are far below 2^24
  out[1] = logits[id] - logsumexp(logits, v);
}

}  // namespace bg
