#include "cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"

namespace bg {

CpuBackend::CpuBackend(Model model, int threads)
    : model_(std::move(model)), pool_(threads) {
  kv_dim_ = model_.cfg.kv_heads * model_.cfg.head_dim;
}

size_t CpuBackend::kv_block_bytes(int block_tokens) const {
  return static_cast<size_t>(model_.cfg.layers) * 2 * block_tokens * kv_dim_ * sizeof(float);
}

void CpuBackend::init_kv(int blocks, int block_tokens) {
  block_tokens_ = block_tokens;
  kv_.reset(new float[static_cast<size_t>(blocks) * model_.cfg.layers * 2 * block_tokens * kv_dim_]);
}

float* CpuBackend::k_at(int block, int layer, int slot) {
  const size_t per_layer = static_cast<size_t>(2) * block_tokens_ * kv_dim_;
  return kv_.get() + (static_cast<size_t>(block) * model_.cfg.layers + layer) * per_layer +
         static_cast<size_t>(slot) * kv_dim_;
}

float* CpuBackend::v_at(int block, int layer, int slot) {
  return k_at(block, layer, slot) + static_cast<size_t>(block_tokens_) * kv_dim_;
}

void CpuBackend::copy_kv_block(int src, int dst, int tokens) {
  for (int l = 0; l < model_.cfg.layers; ++l) {
    std::memcpy(k_at(dst, l, 0), k_at(src, l, 0), sizeof(float) * tokens * kv_dim_);
    std::memcpy(v_at(dst, l, 0), v_at(src, l, 0), sizeof(float) * tokens * kv_dim_);
  }
}

// Causal attention of every step row over its own sequence's KV, read through the block
// table. One work unit is (row, query head); scores are kept whole per unit (positions fit
// the context), then softmax, then the V-weighted sum.
void CpuBackend::attention(int layer, const std::vector<SeqChunk>& chunks,
                           const std::vector<int>& row_chunk, const std::vector<int>& row_pos,
                           int t) {
  const ModelConfig& c = model_.cfg;
  const int H = c.heads, D = c.head_dim, group = c.heads / c.kv_heads;
  const int qkv_w = (c.heads + 2 * c.kv_heads) * D;
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  pool_.parallel_for(t * H, [&](int b, int e) {
    thread_local std::vector<float> scores;  // (positions,)
    for (int u = b; u < e; ++u) {
      const int row = u / H, h = u % H, kvh = h / group;
      const float* q = qkv_.data() + static_cast<size_t>(row) * qkv_w + h * D;
      const std::vector<int>& blocks = *chunks[row_chunk[row]].blocks;
      const int n = row_pos[row] + 1;
      scores.resize(n);
      for (int p = 0; p < n; ++p)
        scores[p] = dot(q, k_at(blocks[p / block_tokens_], layer, p % block_tokens_) + kvh * D,
                        D) * scale;
      softmax(scores.data(), n);
      float* out = att_.data() + static_cast<size_t>(row) * H * D + h * D;
      std::fill(out, out + D, 0.f);
      for (int p = 0; p < n; ++p)
        axpy(scores[p], v_at(blocks[p / block_tokens_], layer, p % block_tokens_) + kvh * D,
             out, D);
    }
  });
}

// Mixtral sparse MoE over the step's normed rows h_ (T, C); adds into the residual x_.
// Rows are grouped by expert so each expert runs one GEMM over the rows routed to it.
void CpuBackend::moe(const LayerWeights& w, int t) {
  const ModelConfig& c = model_.cfg;
  const int C = c.hidden, F = c.intermediate, E = c.experts, k = c.experts_per_tok;
  std::vector<float> logits(static_cast<size_t>(t) * E);  // (T, E)
  gemm(h_.data(), t, C, w.router, logits.data(), E, pool_);
  std::vector<std::vector<std::pair<int, float>>> routed(E);  // expert -> (row, weight)
  std::vector<int> idx(k);
  std::vector<float> wt(k);
  for (int r = 0; r < t; ++r) {
    moe_route(logits.data() + static_cast<size_t>(r) * E, E, k, idx.data(), wt.data());
    for (int i = 0; i < k; ++i) routed[idx[i]].push_back({r, wt[i]});
  }
  std::vector<float> xe, gue, acte, oute;
  for (int e = 0; e < E; ++e) {
    const int n = static_cast<int>(routed[e].size());
    if (n == 0) continue;
    xe.resize(static_cast<size_t>(n) * C);    // (n, C)
    gue.resize(static_cast<size_t>(n) * 2 * F);  // (n, 2F)
    acte.resize(static_cast<size_t>(n) * F);  // (n, F)
    oute.resize(static_cast<size_t>(n) * C);  // (n, C)
    for (int i = 0; i < n; ++i)
      std::memcpy(&xe[static_cast<size_t>(i) * C], &h_[static_cast<size_t>(routed[e][i].first) * C],
                  sizeof(float) * C);
    gemm(xe.data(), n, C, w.expert_gate_up[e], gue.data(), 2 * F, pool_);
    for (int i = 0; i < n; ++i)
      swiglu(&gue[static_cast<size_t>(i) * 2 * F], &gue[static_cast<size_t>(i) * 2 * F + F], F,
             &acte[static_cast<size_t>(i) * F]);
    gemm(acte.data(), n, F, w.expert_down[e], oute.data(), C, pool_);
    for (int i = 0; i < n; ++i)
      axpy(routed[e][i].second, &oute[static_cast<size_t>(i) * C],
           &x_[static_cast<size_t>(routed[e][i].first) * C], C);
  }
}

void CpuBackend::forward(const std::vector<SeqChunk>& chunks,
                         const std::vector<OutputRequest>& outputs,
                         std::vector<std::vector<float>>* results) {
  const ModelConfig& c = model_.cfg;
  const int C = c.hidden, F = c.intermediate, H = c.heads, K = c.kv_heads, D = c.head_dim;
  const int qkv_w = (H + 2 * K) * D;
  std::vector<int> row_chunk, row_pos, chunk_row0;  // (T,), (T,), (chunks,)
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    chunk_row0.push_back(static_cast<int>(row_chunk.size()));
    const SeqChunk& ch = chunks[ci];
    BG_ASSERT(static_cast<size_t>((ch.start + ch.tokens.size() + block_tokens_ - 1) / block_tokens_) <=
              ch.blocks->size());
    for (size_t i = 0; i < ch.tokens.size(); ++i) {
      row_chunk.push_back(static_cast<int>(ci));
      row_pos.push_back(ch.start + static_cast<int>(i));
    }
  }
  const int t = static_cast<int>(row_chunk.size());
  x_.resize(static_cast<size_t>(t) * C);
  h_.resize(static_cast<size_t>(t) * C);
  qkv_.resize(static_cast<size_t>(t) * qkv_w);
  att_.resize(static_cast<size_t>(t) * H * D);
  tmp_.resize(static_cast<size_t>(t) * C);
  if (c.experts == 0) {
    gu_.resize(static_cast<size_t>(t) * 2 * F);
    act_.resize(static_cast<size_t>(t) * F);
  }
  for (int r = 0; r < t; ++r) {
    const int tok = chunks[row_chunk[r]].tokens[r - chunk_row0[row_chunk[r]]];
    BG_ASSERT(tok >= 0 && tok < c.vocab);
    std::memcpy(&x_[static_cast<size_t>(r) * C], &model_.embed[static_cast<size_t>(tok) * C],
                sizeof(float) * C);
  }
  for (int l = 0; l < c.layers; ++l) {
    const LayerWeights& w = model_.layers[l];
    pool_.parallel_for(t, [&](int b, int e) {
      for (int r = b; r < e; ++r)
        rmsnorm(&x_[static_cast<size_t>(r) * C], w.attn_norm.data(), C, c.rms_eps,
                &h_[static_cast<size_t>(r) * C]);
    });
    gemm(h_.data(), t, C, w.qkv, qkv_.data(), qkv_w, pool_);
    pool_.parallel_for(t, [&](int b, int e) {
      for (int r = b; r < e; ++r) {
        float* q = &qkv_[static_cast<size_t>(r) * qkv_w];  // (H, D) then k (K, D), v (K, D)
        float* k = q + H * D;
        float* v = k + K * D;
        if (!w.qkv_bias.empty())
          for (int i = 0; i < qkv_w; ++i) q[i] += w.qkv_bias[i];
        if (c.qk_norm) {
          for (int h = 0; h < H; ++h) rmsnorm(q + h * D, w.q_norm.data(), D, c.rms_eps, q + h * D);
          for (int h = 0; h < K; ++h) rmsnorm(k + h * D, w.k_norm.data(), D, c.rms_eps, k + h * D);
        }
        rope(q, H, D, row_pos[r], model_.inv_freq.data());
        rope(k, K, D, row_pos[r], model_.inv_freq.data());
        const std::vector<int>& blocks = *chunks[row_chunk[r]].blocks;
        const int p = row_pos[r];
        std::memcpy(k_at(blocks[p / block_tokens_], l, p % block_tokens_), k, sizeof(float) * K * D);
        std::memcpy(v_at(blocks[p / block_tokens_], l, p % block_tokens_), v, sizeof(float) * K * D);
      }
    });
    attention(l, chunks, row_chunk, row_pos, t);
    gemm(att_.data(), t, H * D, w.o, tmp_.data(), C, pool_);
    pool_.parallel_for(t, [&](int b, int e) {
      for (int r = b; r < e; ++r) {
        float* xr = &x_[static_cast<size_t>(r) * C];
        const float* o = &tmp_[static_cast<size_t>(r) * C];
        for (int i = 0; i < C; ++i) xr[i] += o[i];
        rmsnorm(xr, w.ffn_norm.data(), C, c.rms_eps, &h_[static_cast<size_t>(r) * C]);
      }
    });
    if (c.experts > 0) {
      moe(w, t);
      continue;
    }
    gemm(h_.data(), t, C, w.gate_up, gu_.data(), 2 * F, pool_);
    pool_.parallel_for(t, [&](int b, int e) {
      for (int r = b; r < e; ++r)
        swiglu(&gu_[static_cast<size_t>(r) * 2 * F], &gu_[static_cast<size_t>(r) * 2 * F + F], F,
               &act_[static_cast<size_t>(r) * F]);
    });
    gemm(act_.data(), t, F, w.down, tmp_.data(), C, pool_);
    pool_.parallel_for(t, [&](int b, int e) {
      for (int r = b; r < e; ++r) {
        float* xr = &x_[static_cast<size_t>(r) * C];
        const float* o = &tmp_[static_cast<size_t>(r) * C];
        for (int i = 0; i < C; ++i) xr[i] += o[i];
      }
    });
  }
  // Output layer, only at requested rows: full rows go through one GEMM with lm_head; label
  // rows are dot products with the few lm_head rows asked for.
  const int n_out = static_cast<int>(outputs.size());
  results->assign(n_out, {});
  std::vector<float> normed(static_cast<size_t>(n_out) * C);  // (outputs, C)
  std::vector<int> full_idx;
  for (int i = 0; i < n_out; ++i) {
    const OutputRequest& o = outputs[i];
    const int r = chunk_row0[o.chunk] + o.index;
    BG_ASSERT(o.index >= 0 && o.index < static_cast<int>(chunks[o.chunk].tokens.size()));
    rmsnorm(&x_[static_cast<size_t>(r) * C], model_.final_norm.data(), C, c.rms_eps,
            &normed[static_cast<size_t>(i) * C]);
    if (o.full) full_idx.push_back(i);
  }
  if (!full_idx.empty()) {
    const int nf = static_cast<int>(full_idx.size());
    std::vector<float> xs(static_cast<size_t>(nf) * C);               // (nf, C)
    std::vector<float> logits(static_cast<size_t>(nf) * c.vocab);     // (nf, V)
    for (int j = 0; j < nf; ++j)
      std::memcpy(&xs[static_cast<size_t>(j) * C], &normed[static_cast<size_t>(full_idx[j]) * C],
                  sizeof(float) * C);
    gemm(xs.data(), nf, C, model_.lm_head, logits.data(), c.vocab, pool_);
    for (int j = 0; j < nf; ++j)
      (*results)[full_idx[j]].assign(logits.begin() + static_cast<size_t>(j) * c.vocab,
                                     logits.begin() + static_cast<size_t>(j + 1) * c.vocab);
  }
  for (int i = 0; i < n_out; ++i) {
    const OutputRequest& o = outputs[i];
    if (o.full) continue;
    auto& res = (*results)[i];
    res.resize(o.ids.size());
    for (size_t j = 0; j < o.ids.size(); ++j) {
      BG_ASSERT(o.ids[j] >= 0 && o.ids[j] < c.vocab);
      res[j] = model_.lm_head.row_dot(o.ids[j], &normed[static_cast<size_t>(i) * C]);
    }
  }
}

}  // namespace bg
