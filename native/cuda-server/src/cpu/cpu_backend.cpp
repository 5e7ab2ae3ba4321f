#include "cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "error.h"

namespace bg {

// ---------------------------------------------------------------------------------------------
// weights

namespace {

// fp32 copy of a tensor (or of several, concatenated); their mapped pages are dropped once read.
std::vector<float> f32(std::initializer_list<const TensorView*> parts) {
  size_t n = 0;
  for (const TensorView* t : parts) n += t->numel();
  std::vector<float> out(n);
  size_t at = 0;
  for (const TensorView* t : parts) {
    convert_to_f32(t->dtype, t->data, t->numel(), out.data() + at);
    at += t->numel();
    t->release();
  }
  return out;
}

// Linear weights (N, K) stacked by rows from `parts`, packed for the GEMM in `type` one row at
// a time, so no row-major fp32 copy of the whole stack exists beside the packed one.
PackedMatrix packed(std::initializer_list<const TensorView*> parts, WeightType type) {
  int n = 0;
  const int k = static_cast<int>((*parts.begin())->shape[1]);
  for (const TensorView* t : parts) n += static_cast<int>(t->shape[0]);
  if (type == WeightType::Int8 && k % PackedMatrix::QK != 0) {
    const TensorView* t = *parts.begin();
    throw Error(t->file + ": tensor '" + t->name + "' cannot be held as int8 weights: its " +
                "inner dimension must be a multiple of " + std::to_string(PackedMatrix::QK) +
                " (one scale per block of 32), got " + std::to_string(k) +
                "; use --weights bf16 or f32");
  }
  PackedMatrix p = PackedMatrix::zeros(n, k, type);
  std::vector<float> row(k);
  int r = 0;
  for (const TensorView* t : parts) {
    BG_ASSERT(t->shape[1] == k);
    const size_t row_bytes = static_cast<size_t>(k) * dtype_bits(t->dtype) / 8;
    for (int i = 0; i < t->shape[0]; ++i, ++r) {
      convert_to_f32(t->dtype, t->data + i * row_bytes, k, row.data());
      // f16 tops out at 65504: a larger weight (possible in an f32 or bf16 checkpoint) would
      // become infinity, so it is refused, not served.
      if (type == WeightType::F16)
        for (int j = 0; j < k; ++j)
          if (std::fabs(row[j]) > 65504.f)
            throw Error(t->file + ": tensor '" + t->name + "' cannot be held as f16 weights: " +
                        "element [" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
                        std::to_string(row[j]) + " is beyond f16's range (65504); use --weights " +
                        "bf16 or f32");
      p.set_row(r, row.data());
      // Every 16 MB, drop the rows already packed: loading then peaks at the packed weights plus
      // 16 MB of checkpoint, not plus its largest tensor.
      if ((i + 1) % std::max<size_t>(1, (size_t{16} << 20) / row_bytes) == 0)
        t->release_prefix((i + 1) * row_bytes);
    }
    t->release();
  }
  return p;
}

}  // namespace

WeightType default_weight_type(const Model& m) {
  if (m.stored == std::vector<DType>{DType::BF16}) return WeightType::BF16;
  if (m.stored == std::vector<DType>{DType::F16}) return WeightType::F16;
  return WeightType::F32;
}

CpuBackend::CpuBackend(const Model& m, int threads, WeightType weights, bool bf16_activations)
    : cfg_(m.cfg), weights_(weights), bf16_activations_(bf16_activations), pool_(threads) {
  if (bf16_activations && weights != WeightType::BF16)
    throw Error(std::string("bf16 activations need bf16 weights, got ") +
                weight_type_name(weights) + " weights");
  kv_dim_ = cfg_.kv_heads * cfg_.head_dim;
  // Every matrix but the MoE router, in the weight type and with the activations asked for.
  const auto pack = [&](std::initializer_list<const TensorView*> parts) {
    PackedMatrix p = packed(parts, weights);
    p.bf16_activations = bf16_activations;
    return p;
  };
  // Tied: lm_head is the embedding tensor itself; packed once, it serves both.
  if (!cfg_.tie_embeddings) embed_ = pack({&m.embed});
  for (const LayerTensors& t : m.layers) {
    CpuLayer w;
    w.attn_norm = f32({&t.attn_norm});
    w.qkv = pack({&t.q, &t.k, &t.v});
    if (t.q_bias.present()) w.qkv_bias = f32({&t.q_bias, &t.k_bias, &t.v_bias});
    if (t.q_norm.present()) {
      w.q_norm = f32({&t.q_norm});
      w.k_norm = f32({&t.k_norm});
    }
    w.o = pack({&t.o});
    w.ffn_norm = f32({&t.ffn_norm});
    if (cfg_.experts > 0) {
      w.router = packed({&t.router}, WeightType::F32);
      for (int e = 0; e < cfg_.experts; ++e) {
        w.expert_gate_up.push_back(pack({&t.expert_gate[e], &t.expert_up[e]}));
        w.expert_down.push_back(pack({&t.expert_down[e]}));
      }
    } else {
      w.gate_up = pack({&t.gate, &t.up});
      w.down = pack({&t.down});
    }
    layers_.push_back(std::move(w));
  }
  final_norm_ = f32({&m.final_norm});
  lm_head_ = pack({&m.lm_head});
  inv_freq_ = m.inv_freq;
}

size_t CpuBackend::weight_bytes_per_token() const {
  size_t b = lm_head_.bytes();
  for (const CpuLayer& w : layers_) {
    b += w.qkv.bytes() + w.o.bytes() + w.gate_up.bytes() + w.down.bytes() + w.router.bytes();
    for (const PackedMatrix& e : w.expert_gate_up) b += e.bytes();
    for (const PackedMatrix& e : w.expert_down) b += e.bytes();
  }
  return b;
}

size_t CpuBackend::weight_bytes() const { return weight_bytes_per_token() + embed_.bytes(); }

// ---------------------------------------------------------------------------------------------
// KV

size_t CpuBackend::kv_block_bytes(int block_tokens) const {
  return static_cast<size_t>(cfg_.layers) * 2 * block_tokens * kv_dim_ * sizeof(float);
}

void CpuBackend::init_kv(int blocks, int block_tokens) {
  if (block_tokens % 16 != 0)
    throw Error("kv block size must be a multiple of 16 tokens for the CPU backend, got " +
                std::to_string(block_tokens));
  block_tokens_ = block_tokens;
  kv_.reset(new float[static_cast<size_t>(blocks) * cfg_.layers * 2 * block_tokens * kv_dim_]);
}

// KV block layout, per block and layer: K as (K heads, B/16, D, 16) so 16 consecutive
// positions of one head form a GEMM panel for Q K^T; V as (K heads, B, D) so the same 16
// positions form the (16, D) right-hand side of P V.
float* CpuBackend::k_block(int block, int layer) {
  return kv_.get() + (static_cast<size_t>(block) * cfg_.layers + layer) * 2 *
                         block_tokens_ * kv_dim_;
}

float* CpuBackend::v_block(int block, int layer) {
  return k_block(block, layer) + static_cast<size_t>(block_tokens_) * kv_dim_;
}

void CpuBackend::write_kv(int block, int layer, int slot, const float* k, const float* v) {
  const int D = cfg_.head_dim, subs = block_tokens_ / 16;
  float* kb = k_block(block, layer);
  float* vb = v_block(block, layer);
  for (int h = 0; h < cfg_.kv_heads; ++h) {
    float* kp = kb + (static_cast<size_t>(h) * subs + slot / 16) * D * 16 + slot % 16;
    for (int d = 0; d < D; ++d) kp[d * 16] = k[h * D + d];
    std::memcpy(vb + (static_cast<size_t>(h) * block_tokens_ + slot) * D, v + h * D,
                sizeof(float) * D);
  }
}

void CpuBackend::copy_kv_block(int src, int dst, int tokens) {
  // Whole blocks: K is stored position-minor, so a token prefix is not contiguous; the slots
  // past `tokens` are garbage either way and are overwritten before they are read.
  for (int l = 0; l < cfg_.layers; ++l)
    std::memcpy(k_block(dst, l), k_block(src, l),
                sizeof(float) * 2 * block_tokens_ * kv_dim_);
}

// ---------------------------------------------------------------------------------------------
// step

// Causal attention of every step row over its own sequence's KV, read through the block
// table. One work unit is (a few consecutive rows of one chunk, KV head): the query heads of
// those rows that share the KV head are the rows of small GEMMs against 16-position panels
// (scores = Q K^T, then out += P V), so each K/V panel is loaded once for all of them; an
// online softmax across panels keeps scores from being materialized for a whole row.
// Multi-item rows mask out other items' slots; a panel no row of the unit sees is skipped, so
// a candidate reads the shared prefix and its own slots only.
void CpuBackend::attention(int layer, const std::vector<SeqChunk>& chunks,
                           const std::vector<int>& row_chunk, const std::vector<RowSpan>& span,
                           int t) {
  const ModelConfig& c = cfg_;
  const int H = c.heads, K = c.kv_heads, D = c.head_dim, G = c.heads / c.kv_heads;
  const int qkv_w = (c.heads + 2 * c.kv_heads) * D, subs = block_tokens_ / 16;
  // Tokens per unit: ~48 query rows per K/V panel load. Long shared prefixes make K/V reads,
  // not FLOPs, the attention bottleneck, so each panel must serve many rows while in L1.
  const int tq = std::max(1, 48 / G);
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<std::pair<int, int>> tiles;  // (first row, rows), never crossing a chunk
  for (int r = 0; r < t;) {
    int n = 1;
    while (n < tq && r + n < t && row_chunk[r + n] == row_chunk[r]) ++n;
    tiles.push_back({r, n});
    r += n;
  }
  pool_.parallel_for(static_cast<int>(tiles.size()) * K, [&](int b, int e) {
    // R = rows * G query rows: q (R, D), s (R, 16), o (R, D), m (R,), l (R,), lim (R,)
    thread_local std::vector<float> q, s, o, m, l;
    thread_local std::vector<int> lim, shr, lo;  // per query row: slot + 1, shared, own item start
    thread_local std::vector<uint16_t> mask;     // per query row: the keys of a panel it sees
    for (int u = b; u < e; ++u) {
      const auto [row0, rows] = tiles[u / K];
      const int kvh = u % K, R = rows * G;
      q.resize(static_cast<size_t>(R) * D);
      s.resize(static_cast<size_t>(R) * 16);
      o.assign(static_cast<size_t>(R) * D, 0.f);
      m.assign(R, neg_inf);
      l.assign(R, 0.f);
      lim.resize(R);
      shr.resize(R);
      lo.resize(R);
      mask.resize(R);
      int n = 0;
      for (int rr = 0; rr < rows; ++rr) {
        const float* src = qkv_.data() + static_cast<size_t>(row0 + rr) * qkv_w + kvh * G * D;
        for (int i = 0; i < G * D; ++i) q[static_cast<size_t>(rr) * G * D + i] = src[i] * scale;
        const RowSpan& sp = span[row0 + rr];
        for (int g = 0; g < G; ++g) {
          lim[rr * G + g] = sp.slot + 1;
          shr[rr * G + g] = sp.shared;
          lo[rr * G + g] = sp.lo;
        }
        n = std::max(n, sp.slot + 1);
      }
      const std::vector<int>& blocks = *chunks[row_chunk[row0]].blocks;
      for (int p0 = 0; p0 < n; p0 += 16) {
        bool seen = false;  // does any row see a slot of this panel?
        for (int i = 0; i < R && !seen; i += G)
          seen = p0 < lim[i] && (p0 < shr[i] || p0 + 15 >= lo[i]);
        if (!seen) continue;
        const int block = blocks[p0 / block_tokens_], slot0 = p0 % block_tokens_;
        const float* kp = k_block(block, layer) + (static_cast<size_t>(kvh) * subs + slot0 / 16) * D * 16;
        const float* vp = v_block(block, layer) + (static_cast<size_t>(kvh) * block_tokens_ + slot0) * D;
        micro_gemm16(q.data(), R, D, kp, 16, D, s.data(), 16, false);
        for (int i = 0; i < R; ++i) {
          const int valid = std::max(0, std::min(16, lim[i] - p0));
          // Slots [shared, lo) belong to other items: masked like slots past the row.
          const int hole0 = std::max(0, std::min(valid, shr[i] - p0));
          const int hole1 = std::max(hole0, std::min(valid, lo[i] - p0));
          const unsigned below = (1u << valid) - 1;
          const unsigned hole = ((1u << hole1) - 1) ^ ((1u << hole0) - 1);
          mask[i] = static_cast<uint16_t>(below & ~hole);
        }
        online_softmax16(s.data(), R, mask.data(), m.data(), l.data(), o.data(), D);
        // Positions past the newest row's limit may hold stale KV: keep them out of P V.
        const int valid = std::min(16, n - p0);
        if (D % 16 == 0) {
          for (int c0 = 0; c0 < D; c0 += 16)
            micro_gemm16(s.data(), R, 16, vp + c0, D, valid, o.data() + c0, D, true);
        } else {
          for (int i = 0; i < R; ++i)
            for (int j = 0; j < valid; ++j)
              axpy(s[static_cast<size_t>(i) * 16 + j], vp + static_cast<size_t>(j) * D,
                   o.data() + static_cast<size_t>(i) * D, D);
        }
      }
      for (int rr = 0; rr < rows; ++rr) {
        float* out = att_.data() + static_cast<size_t>(row0 + rr) * H * D + kvh * G * D;
        for (int g = 0; g < G; ++g) {
          const int i = rr * G + g;
          for (int d = 0; d < D; ++d)
            out[static_cast<size_t>(g) * D + d] = o[static_cast<size_t>(i) * D + d] / l[i];
        }
      }
    }
  });
}

// Mixtral sparse MoE over the step's normed rows h_ (T, C); adds into the residual x_.
// Rows are grouped by expert so each expert runs one GEMM over the rows routed to it.
void CpuBackend::moe(const CpuLayer& w, int t) {
  const ModelConfig& c = cfg_;
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

// The last layer's K/V are written by now, and past its attention only rows that produce
// output matter: moves those rows of att_ and x_ to the front (order kept, so the moves never
// overwrite a row still to be read) and returns their count; out_row maps outputs to them.
int CpuBackend::keep_output_rows(const std::vector<OutputRequest>& outputs,
                                 const std::vector<int>& chunk_row0, int t,
                                 std::vector<int>* out_row) {
  const ModelConfig& c = cfg_;
  const int C = c.hidden, HD = c.heads * c.head_dim;
  std::vector<int> rows;  // sorted unique step rows with output
  for (const auto& o : outputs) rows.push_back(chunk_row0[o.chunk] + o.index);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  for (size_t k = 0; k < rows.size(); ++k) {
    if (static_cast<int>(k) == rows[k]) continue;
    std::memcpy(&att_[k * HD], &att_[static_cast<size_t>(rows[k]) * HD], sizeof(float) * HD);
    std::memcpy(&x_[k * C], &x_[static_cast<size_t>(rows[k]) * C], sizeof(float) * C);
  }
  out_row->clear();
  for (const auto& o : outputs)
    out_row->push_back(static_cast<int>(
        std::lower_bound(rows.begin(), rows.end(), chunk_row0[o.chunk] + o.index) - rows.begin()));
  return static_cast<int>(rows.size());
}

void CpuBackend::forward(const std::vector<SeqChunk>& chunks,
                         const std::vector<OutputRequest>& outputs,
                         std::vector<std::vector<float>>* results) {
  const ModelConfig& c = cfg_;
  const int C = c.hidden, F = c.intermediate, H = c.heads, K = c.kv_heads, D = c.head_dim;
  const int qkv_w = (H + 2 * K) * D;
  std::vector<int> row_chunk, chunk_row0;  // (T,), (chunks,)
  std::vector<RowSpan> span;                // (T,) KV slot, RoPE position, mask of each row
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    chunk_row0.push_back(static_cast<int>(row_chunk.size()));
    const SeqChunk& ch = chunks[ci];
    BG_ASSERT(static_cast<size_t>((ch.start + ch.tokens.size() + block_tokens_ - 1) / block_tokens_) <=
              ch.blocks->size());
    chunk_row_spans(ch, &span);
    row_chunk.resize(span.size(), static_cast<int>(ci));
  }
  int t = static_cast<int>(row_chunk.size());  // step rows; shrinks in the last layer
  for (const auto& o : outputs)
    BG_ASSERT(o.chunk >= 0 && o.chunk < static_cast<int>(chunks.size()) && o.index >= 0 &&
              o.index < static_cast<int>(chunks[o.chunk].tokens.size()));
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
    embedding().row(tok, &x_[static_cast<size_t>(r) * C]);
  }
  std::vector<int> out_row;  // (outputs,) row of each output in x_, set before the last layer
  for (int l = 0; l < c.layers; ++l) {
    const CpuLayer& w = layers_[l];
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
        rope(q, H, D, span[r].pos, inv_freq_.data());
        rope(k, K, D, span[r].pos, inv_freq_.data());
        const std::vector<int>& blocks = *chunks[row_chunk[r]].blocks;
        const int p = span[r].slot;
        write_kv(blocks[p / block_tokens_], l, p % block_tokens_, k, v);
      }
    });
    attention(l, chunks, row_chunk, span, t);
    if (l == c.layers - 1) t = keep_output_rows(outputs, chunk_row0, t, &out_row);
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
    const int r = out_row[i];
    rmsnorm(&x_[static_cast<size_t>(r) * C], final_norm_.data(), C, c.rms_eps,
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
    gemm(xs.data(), nf, C, lm_head_, logits.data(), c.vocab, pool_);
    for (int j = 0; j < nf; ++j) {
      auto& res = (*results)[full_idx[j]];
      const float* row = logits.data() + static_cast<size_t>(j) * c.vocab;
      if (outputs[full_idx[j]].argmax) {
        res.resize(2);
        argmax_logprob(row, c.vocab, res.data());
      } else {
        res.assign(row, row + c.vocab);
      }
    }
  }
  for (int i = 0; i < n_out; ++i) {
    const OutputRequest& o = outputs[i];
    if (o.full) continue;
    auto& res = (*results)[i];
    res.resize(o.ids.size());
    for (size_t j = 0; j < o.ids.size(); ++j) {
      BG_ASSERT(o.ids[j] >= 0 && o.ids[j] < c.vocab);
      res[j] = lm_head_.row_dot(o.ids[j], &normed[static_cast<size_t>(i) * C]);
    }
  }
}

}  // namespace bg
