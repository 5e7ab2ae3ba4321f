#include "cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "cuda_check.h"
#include "error.h"

namespace bg {

namespace {

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// weights

void* CudaBackend::dev_alloc(size_t bytes) {
  void* p = nullptr;
  cudaCheck(cudaMalloc(&p, std::max<size_t>(bytes, 16)));
  allocs_.push_back(p);
  return p;
}

// Tensors stacked by rows into one device allocation, each converted on the host and copied
// on its own: host memory holds one tensor's converted copy at a time, never the model's.
template <class T>
T* CudaBackend::upload(const std::vector<const TensorView*>& parts) {
  size_t n = 0;
  for (const TensorView* t : parts) n += t->numel();
  auto* d = static_cast<T*>(dev_alloc(n * sizeof(T)));
  std::vector<T> host;
  size_t at = 0;
  for (const TensorView* t : parts) {
    host.resize(t->numel());
    if constexpr (std::is_same_v<T, uint16_t>)
      convert_to_bf16(t->dtype, t->data, host.size(), host.data());
    else
      convert_to_f32(t->dtype, t->data, host.size(), host.data());
    t->release();
    cudaCheck(cudaMemcpy(d + at, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
    at += host.size();
  }
  weight_bytes_ += n * sizeof(T);
  return d;
}

uint16_t* CudaBackend::upload_bf16(const std::vector<const TensorView*>& parts) {
  return upload<uint16_t>(parts);
}

float* CudaBackend::upload_f32(const std::vector<const TensorView*>& parts) {
  return parts.front()->present() ? upload<float>(parts) : nullptr;
}

float* CudaBackend::upload_f32(const std::vector<float>& v) {
  auto* d = static_cast<float*>(dev_alloc(v.size() * 4));
  cudaCheck(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  weight_bytes_ += v.size() * 4;
  return d;
}

uint16_t* CudaBackend::random_bf16(size_t n, int fan_in) {
  auto* d = static_cast<uint16_t*>(dev_alloc(n * 2));
  // Each tensor its own stream of the seed, so tensors are not copies of one another.
  cuda::fill_random_bf16(d, n, seed_ * 1000003 + ++tensors_drawn_,
                         1.f / std::sqrt(static_cast<float>(fan_in)), stream_);
  weight_bytes_ += n * 2;
  return d;
}

float* CudaBackend::ones_f32(size_t n) {
  auto* d = static_cast<float*>(dev_alloc(n * 4));
  cuda::fill_f32(d, n, 1.f, stream_);
  weight_bytes_ += n * 4;
  return d;
}

namespace {

// Before the first allocation, so a machine without a GPU (or without a driver) gets one plain
// sentence instead of the error of whichever CUDA call happened to come first.
void require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0)
    throw Error(std::string("no CUDA device (") + (e != cudaSuccess ? cudaGetErrorString(e) : "device count 0") + ")");
}

}  // namespace

CudaBackend::CudaBackend(const Model& m) : cfg_(m.cfg) {
  require_device();
  cudaCheck(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  const ModelConfig& c = cfg_;
  embed_ = upload_bf16({&m.embed});
  lm_head_ = c.tie_embeddings ? embed_ : upload_bf16({&m.lm_head});
  final_norm_ = upload_f32({&m.final_norm});
  inv_freq_ = upload_f32(m.inv_freq);
  for (const LayerTensors& w : m.layers) {
    Layer d;
    d.attn_norm = upload_f32({&w.attn_norm});
    d.qkv = upload_bf16({&w.q, &w.k, &w.v});
    d.qkv_bias = upload_f32({&w.q_bias, &w.k_bias, &w.v_bias});
    d.q_norm = upload_f32({&w.q_norm});
    d.k_norm = upload_f32({&w.k_norm});
    d.o = upload_bf16({&w.o});
    d.ffn_norm = upload_f32({&w.ffn_norm});
    if (c.experts > 0) {
      d.router = upload_bf16({&w.router});
      // Experts stacked (E, rows, cols) so one grouped GEMM serves them all.
      std::vector<const TensorView*> gu, dn;
      for (int e = 0; e < c.experts; ++e) {
        gu.push_back(&w.expert_gate[e]);
        gu.push_back(&w.expert_up[e]);
        dn.push_back(&w.expert_down[e]);
      }
      d.gate_up = upload_bf16(gu);
      d.down = upload_bf16(dn);
    } else {
      d.gate_up = upload_bf16({&w.gate, &w.up});
      d.down = upload_bf16({&w.down});
    }
    layers_.push_back(d);
  }
  finish_init();
}

CudaBackend::CudaBackend(const ModelConfig& cfg, uint64_t seed) : cfg_(cfg), seed_(seed) {
  require_device();
  cudaCheck(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  const ModelConfig& c = cfg_;
  const size_t C = c.hidden, F = c.intermediate, D = c.head_dim, W = (c.heads + 2 * c.kv_heads) * D;
  const size_t E = std::max(c.experts, 1);
  embed_ = random_bf16(c.vocab * C, static_cast<int>(C));
  lm_head_ = c.tie_embeddings ? embed_ : random_bf16(c.vocab * C, static_cast<int>(C));
  final_norm_ = ones_f32(C);
  inv_freq_ = upload_f32(rope_inv_freq(c));
  for (int l = 0; l < c.layers; ++l) {
    Layer d;
    d.attn_norm = ones_f32(C);
    d.qkv = random_bf16(W * C, static_cast<int>(C));
    if (c.qk_norm) {
      d.q_norm = ones_f32(D);
      d.k_norm = ones_f32(D);
    }
    d.o = random_bf16(C * c.heads * D, c.heads * static_cast<int>(D));
    d.ffn_norm = ones_f32(C);
    if (c.experts > 0) d.router = random_bf16(E * C, static_cast<int>(C));
    d.gate_up = random_bf16(E * 2 * F * C, static_cast<int>(C));
    d.down = random_bf16(E * C * F, static_cast<int>(F));
    layers_.push_back(d);
  }
  finish_init();
}

void CudaBackend::finish_init() {
  tile_rows_ = cuda::attention_tile_rows(cfg_.heads, cfg_.kv_heads, cfg_.head_dim);
  cudaCheck(cudaStreamSynchronize(stream_));
}

void CudaBackend::free_scratch() {
  for (void* p : {(void*)s_.x, (void*)s_.h, (void*)s_.qkv, (void*)s_.q, (void*)s_.att, (void*)s_.tmp,
                  (void*)s_.gu, (void*)s_.act, (void*)s_.router, (void*)s_.idx, (void*)s_.wt,
                  (void*)s_.row0, (void*)s_.src, (void*)s_.dst, (void*)s_.xe, (void*)s_.ye,
                  (void*)s_.hn, (void*)s_.hf, (void*)s_.logits, (void*)s_.amax, (void*)s_.labels,
                  (void*)s_.meta})
    if (p) cudaFree(p);
  if (s_.host_meta) cudaFreeHost(s_.host_meta);
  s_ = Scratch{};
}

CudaBackend::~CudaBackend() {
  // Destructors must not throw: release errors are ignored.
  for (auto& [t, g] : decode_graphs_) cudaGraphExecDestroy(g);
  free_scratch();
  if (kv_) cudaFree(kv_);
  for (void* p : allocs_) cudaFree(p);
  if (stream_) cudaStreamDestroy(stream_);
}

// ---------------------------------------------------------------------------------------------
// KV

size_t CudaBackend::kv_block_bytes(int block_tokens) const {
  return static_cast<size_t>(cfg_.layers) * 2 * cfg_.kv_heads * block_tokens * cfg_.head_dim * 2;
}

void CudaBackend::init_kv(int blocks, int block_tokens) {
  if (block_tokens <= 0) throw Error("kv block size must be positive, got " + std::to_string(block_tokens));
  cudaCheck(cudaStreamSynchronize(stream_));
  if (kv_) cudaCheck(cudaFree(kv_));
  kv_ = nullptr;
  block_tokens_ = block_tokens;
  const size_t bytes = kv_block_bytes(block_tokens) * blocks;
  const cudaError_t e = cudaMalloc(&kv_, bytes);
  if (e != cudaSuccess)
    throw Error("kv cache: cannot allocate " + std::to_string(bytes >> 20) + " MiB of device memory for " +
                std::to_string(blocks) + " blocks: " + cudaGetErrorString(e));
  // Freshly allocated KV may hold NaN patterns; attention never reads unwritten slots, but
  // zeroing once keeps compute-sanitizer's initcheck quiet and costs nothing per step.
  cudaCheck(cudaMemsetAsync(kv_, 0, bytes, stream_));
  for (auto& [t, g] : decode_graphs_) cudaCheck(cudaGraphExecDestroy(g));
  decode_graphs_.clear();
}

void CudaBackend::copy_kv_block(int src, int dst, int tokens) {
  // A block is contiguous (L, 2, K, B, D): copying all of it is one call; slots past `tokens`
  // are overwritten before they are read.
  const size_t b = kv_block_bytes(block_tokens_);
  cudaCheck(cudaMemcpyAsync(reinterpret_cast<char*>(kv_) + b * dst,
                            reinterpret_cast<char*>(kv_) + b * src, b, cudaMemcpyDeviceToDevice,
                            stream_));
}

// ---------------------------------------------------------------------------------------------
// step

void CudaBackend::reserve(int t, int n_out, int n_full, int n_label, int n_tables, int n_tiles) {
  const ModelConfig& c = cfg_;
  const int C = c.hidden, F = c.intermediate, HD = c.heads * c.head_dim,
            W = (c.heads + 2 * c.kv_heads) * c.head_dim, E = c.experts,
            k = c.experts > 0 ? c.experts_per_tok : 1;
  // Metadata layout: everything but the block tables has a size fixed by (T, outputs), so a
  // decode graph captured for T finds its arrays at the same offsets every step.
  size_t off = 0;
  auto place = [&](size_t bytes) {
    const size_t o = off;
    off = align_up(off + bytes, 16);
    return o;
  };
  off_tokens_ = place(sizeof(int) * t);
  off_rows_ = place(sizeof(cuda::RowMeta) * t);
  off_tiles_ = place(sizeof(cuda::AttnTile) * n_tiles);
  off_out_ = place(sizeof(int) * n_out);
  off_full_ = place(sizeof(int) * n_full);
  off_lrows_ = place(sizeof(int) * n_label);
  off_lids_ = place(sizeof(int) * n_label);
  off_tables_ = place(sizeof(int) * n_tables);
  const size_t meta = off;

  const bool grow = t > s_.t || n_out > s_.out || n_full > s_.full || n_label > s_.label ||
                    meta > s_.meta_bytes;
  if (!grow) return;
  cudaCheck(cudaStreamSynchronize(stream_));
  // Grow generously so a run of slowly growing steps does not reallocate each time.
  Scratch n;
  n.t = std::max(t, s_.t * 3 / 2);
  n.out = std::max(n_out, s_.out * 3 / 2);
  n.full = std::max(n_full, s_.full * 3 / 2);
  n.label = std::max(n_label, s_.label * 3 / 2);
  n.meta_bytes = std::max(meta, s_.meta_bytes * 3 / 2);
  free_scratch();  // the old scratch is not in allocs_
  auto dev = [](size_t bytes) {
    void* p = nullptr;
    cudaCheck(cudaMalloc(&p, std::max<size_t>(bytes, 16)));
    return p;
  };
  const size_t T = n.t, TK = T * k;
  n.x = static_cast<float*>(dev(T * C * 4));
  n.h = static_cast<uint16_t*>(dev(T * C * 2));
  n.qkv = static_cast<float*>(dev(T * W * 4));
  n.q = static_cast<uint16_t*>(dev(T * HD * 2));
  n.att = static_cast<uint16_t*>(dev(T * HD * 2));
  n.tmp = static_cast<float*>(dev(T * C * 4));
  n.gu = static_cast<float*>(dev(TK * 2 * F * 4));
  n.act = static_cast<uint16_t*>(dev(TK * F * 2));
  if (E > 0) {
    n.router = static_cast<float*>(dev(T * E * 4));
    n.idx = static_cast<int*>(dev(TK * 4));
    n.wt = static_cast<float*>(dev(TK * 4));
    n.row0 = static_cast<int*>(dev((E + 1) * 4));
    n.src = static_cast<int*>(dev(TK * 4));
    n.dst = static_cast<int*>(dev(TK * 4));
    n.xe = static_cast<uint16_t*>(dev(TK * C * 2));
    n.ye = static_cast<float*>(dev(TK * C * 4));
  }
  n.hn = static_cast<uint16_t*>(dev(static_cast<size_t>(n.out) * C * 2));
  n.hf = static_cast<uint16_t*>(dev(static_cast<size_t>(n.full) * C * 2));
  n.logits = static_cast<float*>(dev(static_cast<size_t>(n.full) * c.vocab * 4));
  n.amax = static_cast<float*>(dev(static_cast<size_t>(n.full) * 2 * 4));
  n.labels = static_cast<float*>(dev(static_cast<size_t>(n.label) * 4));
  n.meta = static_cast<char*>(dev(n.meta_bytes));
  cudaCheck(cudaMallocHost(reinterpret_cast<void**>(&n.host_meta), n.meta_bytes));
  s_ = n;
  // Captured graphs hold the old addresses.
  for (auto& [tt, g] : decode_graphs_) cudaCheck(cudaGraphExecDestroy(g));
  decode_graphs_.clear();
}

// Every layer for T rows: the kernels a decode graph captures.
void CudaBackend::run_layers(int t, int n_tiles) {
  const ModelConfig& c = cfg_;
  const int C = c.hidden, F = c.intermediate, H = c.heads, K = c.kv_heads, D = c.head_dim,
            W = (H + 2 * K) * D, E = c.experts, k = c.experts_per_tok;
  cudaStream_t st = stream_;
  const auto* tokens = reinterpret_cast<const int*>(s_.meta + off_tokens_);
  const auto* rows = reinterpret_cast<const cuda::RowMeta*>(s_.meta + off_rows_);
  const auto* tables = reinterpret_cast<const int*>(s_.meta + off_tables_);
  const auto* tiles = reinterpret_cast<const cuda::AttnTile*>(s_.meta + off_tiles_);
  const cuda::KvLayout kv{kv_, c.layers, K, block_tokens_, D};
  cuda::embed_gather(embed_, tokens, t, C, s_.x, st);
  const float* pending = nullptr;  // projection output not yet added into x
  for (int l = 0; l < c.layers; ++l) {
    const Layer& w = layers_[l];
    cuda::add_rmsnorm(s_.x, pending, w.attn_norm, t, C, c.rms_eps, s_.h, nullptr, st);
    cuda::gemm_bf16(s_.h, t, C, C, w.qkv, W, s_.qkv, W, false, st);
    cuda::qkv_rope_store(s_.qkv, w.qkv_bias, w.q_norm, w.k_norm, c.rms_eps, inv_freq_, rows, tables,
                         t, H, kv, l, s_.q, st);
    cuda::paged_attention(s_.q, rows, tables, tiles, n_tiles, tile_rows_, H, kv, l, s_.att, st);
    cuda::gemm_bf16(s_.att, t, H * D, H * D, w.o, C, s_.tmp, C, false, st);
    cuda::add_rmsnorm(s_.x, s_.tmp, w.ffn_norm, t, C, c.rms_eps, s_.h, nullptr, st);
    if (E > 0) {
      cuda::gemm_bf16(s_.h, t, C, C, w.router, E, s_.router, E, false, st);
      cuda::moe_route(s_.router, t, E, k, s_.idx, s_.wt, st);
      cuda::moe_group(s_.idx, t, E, k, s_.row0, s_.src, s_.dst, st);
      cuda::gather_rows(s_.h, s_.src, t * k, C, s_.xe, st);
      cuda::gemm_bf16_grouped(s_.xe, C, C, w.gate_up, 2 * F, s_.gu, 2 * F, s_.row0, E, t, st);
      cuda::swiglu(s_.gu, t * k, F, s_.act, st);
      cuda::gemm_bf16_grouped(s_.act, F, F, w.down, C, s_.ye, C, s_.row0, E, t, st);
      cuda::moe_combine(s_.ye, s_.dst, s_.wt, t, k, C, s_.x, st);
      pending = nullptr;
    } else {
      cuda::gemm_bf16(s_.h, t, C, C, w.gate_up, 2 * F, s_.gu, 2 * F, false, st);
      cuda::swiglu(s_.gu, t, F, s_.act, st);
      cuda::gemm_bf16(s_.act, t, F, F, w.down, C, s_.tmp, C, false, st);
      pending = s_.tmp;
    }
  }
  // The last residual add is fused into the final norm of the output rows (run_output).
  last_pending_ = pending;
}

void CudaBackend::run_output(int n_out, int n_full, int n_label) {
  const ModelConfig& c = cfg_;
  const int C = c.hidden;
  cudaStream_t st = stream_;
  const auto* out_rows = reinterpret_cast<const int*>(s_.meta + off_out_);
  const auto* full_rows = reinterpret_cast<const int*>(s_.meta + off_full_);
  const auto* lrows = reinterpret_cast<const int*>(s_.meta + off_lrows_);
  const auto* lids = reinterpret_cast<const int*>(s_.meta + off_lids_);
  // out_rows are distinct step rows, so each gets the residual add exactly once.
  cuda::add_rmsnorm(s_.x, last_pending_, final_norm_, n_out, C, c.rms_eps, s_.hn, out_rows, st);
  if (n_full > 0) {
    cuda::gather_rows(s_.hn, full_rows, n_full, C, s_.hf, st);
    cuda::gemm_bf16(s_.hf, n_full, C, C, lm_head_, c.vocab, s_.logits, c.vocab, false, st);
    // Cheap next to the lm_head GEMM, so always run: graphs then need no variant for it.
    cuda::argmax_logprob(s_.logits, n_full, c.vocab, s_.amax, st);
  }
  cuda::label_logits(lm_head_, s_.hn, lrows, lids, n_label, C, s_.labels, st);
}

void CudaBackend::forward(const std::vector<SeqChunk>& chunks,
                          const std::vector<OutputRequest>& outputs,
                          std::vector<std::vector<float>>* results) {
  const ModelConfig& c = cfg_;
  BG_ASSERT(kv_ != nullptr);
  // Host-side step geometry: the same rules as the CPU backend (chunk_row_spans).
  std::vector<int> tokens, tables, chunk_row0;
  std::vector<cuda::RowMeta> rows;
  std::vector<cuda::AttnTile> tiles;
  std::vector<RowSpan> span;
  for (const SeqChunk& ch : chunks) {
    chunk_row0.push_back(static_cast<int>(tokens.size()));
    const int table = static_cast<int>(tables.size());
    const int need = (ch.start + static_cast<int>(ch.tokens.size()) + block_tokens_ - 1) / block_tokens_;
    BG_ASSERT(static_cast<size_t>(need) <= ch.blocks->size());
    tables.insert(tables.end(), ch.blocks->begin(), ch.blocks->begin() + need);
    span.clear();
    chunk_row_spans(ch, &span);
    const int row0 = static_cast<int>(tokens.size());
    for (size_t i = 0; i < ch.tokens.size(); ++i) {
      BG_ASSERT(ch.tokens[i] >= 0 && ch.tokens[i] < c.vocab);
      tokens.push_back(ch.tokens[i]);
      rows.push_back({span[i].slot, span[i].pos, span[i].shared, span[i].lo, table});
    }
    for (int r = 0; r < static_cast<int>(ch.tokens.size()); r += tile_rows_)
      tiles.push_back({row0 + r, std::min(tile_rows_, static_cast<int>(ch.tokens.size()) - r)});
  }
  const int t = static_cast<int>(tokens.size());
  // Output rows: distinct step rows (sorted), then which of them want full logits, and the
  // (row, id) pairs of label-only outputs.
  std::vector<int> out_rows;
  for (const auto& o : outputs) {
    BG_ASSERT(o.chunk >= 0 && o.chunk < static_cast<int>(chunks.size()) && o.index >= 0 &&
              o.index < static_cast<int>(chunks[o.chunk].tokens.size()));
    out_rows.push_back(chunk_row0[o.chunk] + o.index);
  }
  std::sort(out_rows.begin(), out_rows.end());
  out_rows.erase(std::unique(out_rows.begin(), out_rows.end()), out_rows.end());
  std::vector<int> full_rows, lrows, lids, out_of(outputs.size()), first_label(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputRequest& o = outputs[i];
    const int hn_row = static_cast<int>(
        std::lower_bound(out_rows.begin(), out_rows.end(), chunk_row0[o.chunk] + o.index) -
        out_rows.begin());
    if (o.full) {
      out_of[i] = static_cast<int>(full_rows.size());
      full_rows.push_back(hn_row);
    } else {
      first_label[i] = static_cast<int>(lids.size());
      for (int id : o.ids) {
        BG_ASSERT(id >= 0 && id < c.vocab);
        lrows.push_back(hn_row);
        lids.push_back(id);
      }
    }
  }
  const int n_out = static_cast<int>(out_rows.size()), n_full = static_cast<int>(full_rows.size()),
            n_label = static_cast<int>(lids.size()), n_tiles = static_cast<int>(tiles.size());
  reserve(t, n_out, n_full, n_label, static_cast<int>(tables.size()), n_tiles);
  auto put = [&](size_t off, const void* src, size_t bytes) {
    if (bytes) std::memcpy(s_.host_meta + off, src, bytes);
  };
  put(off_tokens_, tokens.data(), tokens.size() * sizeof(int));
  put(off_rows_, rows.data(), rows.size() * sizeof(cuda::RowMeta));
  put(off_tiles_, tiles.data(), tiles.size() * sizeof(cuda::AttnTile));
  put(off_out_, out_rows.data(), out_rows.size() * sizeof(int));
  put(off_full_, full_rows.data(), full_rows.size() * sizeof(int));
  put(off_lrows_, lrows.data(), lrows.size() * sizeof(int));
  put(off_lids_, lids.data(), lids.size() * sizeof(int));
  put(off_tables_, tables.data(), tables.size() * sizeof(int));
  const size_t meta_bytes = off_tables_ + tables.size() * sizeof(int);
  cudaCheck(cudaMemcpyAsync(s_.meta, s_.host_meta, meta_bytes, cudaMemcpyHostToDevice, stream_));

  // Decode: every chunk one plain token, one full-logits output per chunk, in chunk order.
  // Such steps differ only in metadata contents, so one graph per T replays them.
  bool decode = graphs_ && n_full == t && n_label == 0 && static_cast<int>(outputs.size()) == t;
  for (size_t i = 0; decode && i < chunks.size(); ++i)
    decode = chunks[i].tokens.size() == 1 && chunks[i].item_lo.empty() && outputs[i].chunk == static_cast<int>(i);
  if (decode) {
    auto it = decode_graphs_.find(t);
    if (it == decode_graphs_.end()) {
      cudaGraph_t g = nullptr;
      cudaCheck(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      run_layers(t, n_tiles);
      run_output(n_out, n_full, n_label);
      cudaCheck(cudaStreamEndCapture(stream_, &g));
      cudaGraphExec_t exec = nullptr;
      cudaCheck(cudaGraphInstantiate(&exec, g, 0));
      cudaCheck(cudaGraphDestroy(g));
      it = decode_graphs_.emplace(t, exec).first;
    }
    cudaCheck(cudaGraphLaunch(it->second, stream_));
  } else {
    run_layers(t, n_tiles);
    run_output(n_out, n_full, n_label);
  }
  // Whole logits rows come back only when some output wants them, not for greedy decoding.
  bool want_rows = false;
  for (const auto& o : outputs) want_rows |= o.full && !o.argmax;
  host_logits_.resize(want_rows ? static_cast<size_t>(n_full) * c.vocab : 0);
  host_amax_.resize(static_cast<size_t>(n_full) * 2);
  host_labels_.resize(n_label);
  if (want_rows)
    cudaCheck(cudaMemcpyAsync(host_logits_.data(), s_.logits, host_logits_.size() * 4,
                              cudaMemcpyDeviceToHost, stream_));
  if (n_full)
    cudaCheck(cudaMemcpyAsync(host_amax_.data(), s_.amax, host_amax_.size() * 4,
                              cudaMemcpyDeviceToHost, stream_));
  if (n_label)
    cudaCheck(cudaMemcpyAsync(host_labels_.data(), s_.labels, host_labels_.size() * 4,
                              cudaMemcpyDeviceToHost, stream_));
  cudaCheck(cudaStreamSynchronize(stream_));
  results->assign(outputs.size(), {});
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto& res = (*results)[i];
    if (outputs[i].full && outputs[i].argmax) {
      res.assign(host_amax_.begin() + 2 * out_of[i], host_amax_.begin() + 2 * out_of[i] + 2);
    } else if (outputs[i].full) {
      const float* p = host_logits_.data() + static_cast<size_t>(out_of[i]) * c.vocab;
      res.assign(p, p + c.vocab);
    } else {
      const float* p = host_labels_.data() + first_label[i];
      res.assign(p, p + outputs[i].ids.size());
    }
  }
}

}  // namespace bg
