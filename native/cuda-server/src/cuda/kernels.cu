// CUDA kernels; see kernels.cuh for the contracts. Every kernel here has a CPU reference in
// tests/cuda/test_cuda_kernels.cpp and is checked against it on random inputs.
#include "kernels.cuh"

#include <cuda_bf16.h>

#include <cfloat>
#include <cstdint>

#include "cuda_check.h"

namespace bg::cuda {

namespace {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float bf(uint16_t v) {
  return __uint_as_float(static_cast<uint32_t>(v) << 16);
}
__device__ __forceinline__ uint16_t to_bf(float f) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the sum.
__device__ float block_sum(float v) {
  __shared__ float part[32];
  __shared__ float total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < (blockDim.x >> 5) ? part[lane] : 0.f;
    s = warp_sum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  const float r = total;
  __syncthreads();  // part/total are reused by the next call
  return r;
}

// ---------------------------------------------------------------------------------------------
// GEMM: mma.sync m16n8k16 bf16 -> fp32, ldmatrix fragments, cp.async double buffering.
// Block tile BM x BN x 32; warps WM x WN, each owning a (BM/WM) x (BN/WN) tile of 16x8 MMAs.
// Shared rows are padded by 8 bf16 (16 bytes): ldmatrix's 8 row addresses then fall in
// distinct bank groups.

constexpr int BK = 32, PAD = 8, LDS = BK + PAD;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: zero-fill, the source is not read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Loads rows [r0, r0 + ROWS) x cols [k0, k0 + 32) of a (rows_valid, K) bf16 matrix into a
// padded shared tile; out-of-range 16-byte pieces are zero-filled.
template <int ROWS, int THREADS>
__device__ __forceinline__ void load_tile(uint16_t (*dst)[LDS], const uint16_t* src, int ld,
                                          int r0, int rows_valid, int k0, int k) {
  for (int c = threadIdx.x; c < ROWS * (BK / 8); c += THREADS) {
    const int r = c / (BK / 8), col = (c % (BK / 8)) * 8;
    const bool ok = r0 + r < rows_valid && k0 + col < k;
    const uint16_t* g = ok ? src + static_cast<size_t>(r0 + r) * ld + k0 + col : src;
    cp_async16(&dst[r][col], g, ok);
  }
}

template <int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__(WM * WN * 32)
    gemm_kernel(const uint16_t* __restrict__ x, int m, int k, int ldx,
                const uint16_t* __restrict__ w, int n, float* __restrict__ y, int ldy,
                bool accumulate, const int* __restrict__ group_row0) {
  constexpr int THREADS = WM * WN * 32, TM = BM / WM, TN = BN / WN, MI = TM / 16, NI = TN / 8;
  static_assert(TM % 16 == 0 && TN % 16 == 0, "warp tile must be whole 16x16 MMA pairs");
  __shared__ __align__(16) uint16_t as[2][BM][LDS];  // X tile (BM, 32)
  __shared__ __align__(16) uint16_t bs[2][BN][LDS];  // W tile (BN, 32)

  int row_base = 0;
  if (group_row0) {  // grouped: this z-slice is one group's GEMM
    const int g = blockIdx.z;
    row_base = group_row0[g];
    m = group_row0[g + 1] - row_base;
    w += static_cast<size_t>(g) * n * k;
    x += static_cast<size_t>(row_base) * ldx;
    y += static_cast<size_t>(row_base) * ldy;
  }
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  if (m0 >= m) return;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = warp / WN, wn = warp % WN;
  float acc[MI][NI][4] = {};

  const int kt_n = (k + BK - 1) / BK;
  load_tile<BM, THREADS>(as[0], x, ldx, m0, m, 0, k);
  load_tile<BN, THREADS>(bs[0], w, k, n0, n, 0, k);
  cp_async_commit();
  for (int kt = 0; kt < kt_n; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < kt_n) {
      load_tile<BM, THREADS>(as[cur ^ 1], x, ldx, m0, m, (kt + 1) * BK, k);
      load_tile<BN, THREADS>(bs[cur ^ 1], w, k, n0, n, (kt + 1) * BK, k);
    }
    cp_async_commit();
    cp_async_wait<1>();  // every group but the newest is done: tile kt is in shared memory
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < BK; ks += 16) {
      uint32_t a[MI][4], b[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
        ldmatrix_x4(a[mi], &as[cur][wm * TM + mi * 16 + (lane & 15)][ks + (lane >> 4) * 8]);
#pragma unroll
      for (int ni = 0; ni < NI; ni += 2) {
        uint32_t r[4];
        ldmatrix_x4(r, &bs[cur][wn * TN + ni * 8 + (lane & 7) + ((lane >> 4) << 3)]
                           [ks + ((lane >> 3) & 1) * 8]);
        b[ni][0] = r[0];
        b[ni][1] = r[1];
        b[ni + 1][0] = r[2];
        b[ni + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) mma_bf16(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
    }
    __syncthreads();  // the next iteration's loads overwrite this buffer
  }
  // Accumulator (16x8 per MMA): c0,c1 at row lane/4, cols 2*(lane%4)+{0,1}; c2,c3 8 rows down.
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = m0 + wm * TM + mi * 16 + (lane >> 2) + half * 8;
        const int c = n0 + wn * TN + ni * 8 + (lane & 3) * 2;
        if (r >= m) continue;
        float* out = y + static_cast<size_t>(r) * ldy + c;
        for (int j = 0; j < 2; ++j)
          if (c + j < n) out[j] = acc[mi][ni][half * 2 + j] + (accumulate ? out[j] : 0.f);
      }
}

int sm_count() {
  static int n = [] {
    int dev = 0, v = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
    return v;
  }();
  return n;
}

template <int BM, int BN, int WM, int WN>
void launch_gemm(const uint16_t* x, int m, int k, int ldx, const uint16_t* w, int n, float* y,
                 int ldy, bool accumulate, const int* row0, int groups, cudaStream_t st) {
  const dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM, groups);
  gemm_kernel<BM, BN, WM, WN><<<grid, WM * WN * 32, 0, st>>>(x, m, k, ldx, w, n, y, ldy,
                                                              accumulate, row0);
  cudaCheckLaunch();
}

// Three tile shapes: 16-row tiles for decode (M = batch), 64x64 while 128x128 tiles would
// leave SMs idle, 128x128 for prefill. More shapes cost compile time for little gain.
void dispatch_gemm(const uint16_t* x, int m, int k, int ldx, const uint16_t* w, int n, float* y,
                   int ldy, bool accumulate, const int* row0, int groups, cudaStream_t st) {
  if (k % 8 != 0) throw Error("gemm_bf16: K = " + std::to_string(k) + " is not a multiple of 8");
  if (m <= 0 || n <= 0) return;
  const long big_tiles = static_cast<long>((m + 127) / 128) * ((n + 127) / 128) * groups;
  if (m <= 16)
    launch_gemm<16, 128, 1, 4>(x, m, k, ldx, w, n, y, ldy, accumulate, row0, groups, st);
  else if (big_tiles < 2L * sm_count())
    launch_gemm<64, 64, 2, 2>(x, m, k, ldx, w, n, y, ldy, accumulate, row0, groups, st);
  else
    launch_gemm<128, 128, 2, 4>(x, m, k, ldx, w, n, y, ldy, accumulate, row0, groups, st);
}

// ---------------------------------------------------------------------------------------------
// Elementwise and row kernels.

__global__ void embed_kernel(const uint16_t* __restrict__ embed, const int* __restrict__ tokens,
                             int c, float* __restrict__ x) {
  const uint16_t* e = embed + static_cast<size_t>(tokens[blockIdx.x]) * c;
  float* o = x + static_cast<size_t>(blockIdx.x) * c;
  for (int i = threadIdx.x; i < c; i += blockDim.x) o[i] = bf(e[i]);
}

__global__ void add_rmsnorm_kernel(float* __restrict__ x, const float* __restrict__ delta,
                                   const float* __restrict__ g, int c, float eps,
                                   uint16_t* __restrict__ h, const int* __restrict__ rows) {
  const int src = rows ? rows[blockIdx.x] : blockIdx.x;
  float* xr = x + static_cast<size_t>(src) * c;
  const float* dr = delta ? delta + static_cast<size_t>(src) * c : nullptr;
  float ss = 0.f;
  for (int i = threadIdx.x; i < c; i += blockDim.x) {
    float v = xr[i];
    if (dr) xr[i] = v = v + dr[i];
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss) / c + eps);
  uint16_t* hr = h + static_cast<size_t>(blockIdx.x) * c;
  for (int i = threadIdx.x; i < c; i += blockDim.x) hr[i] = to_bf(xr[i] * inv * g[i]);
}

__device__ __forceinline__ uint16_t* kv_ptr(const KvLayout& kv, int block, int layer, int which,
                                            int head, int slot) {
  return kv.base + ((((static_cast<size_t>(block) * kv.layers + layer) * 2 + which) * kv.kv_heads +
                     head) * kv.block_tokens + slot) * kv.head_dim;
}

constexpr int QKV_WARPS = 8, MAX_D = 256;

__global__ void __launch_bounds__(QKV_WARPS * 32)
    qkv_rope_kernel(const float* __restrict__ qkv, const float* __restrict__ bias,
                    const float* __restrict__ q_norm, const float* __restrict__ k_norm, float eps,
                    const float* __restrict__ inv_freq, const RowMeta* __restrict__ rows,
                    const int* __restrict__ tables, int h, KvLayout kv, int layer,
                    uint16_t* __restrict__ q) {
  __shared__ float buf[QKV_WARPS][MAX_D];  // one head vector per warp
  const int r = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = kv.head_dim, K = kv.kv_heads, half = D / 2, width = (h + 2 * K) * D;
  const RowMeta meta = rows[r];
  const int block = tables[meta.table + meta.slot / kv.block_tokens];
  const int slot = meta.slot % kv.block_tokens;
  float* v = buf[warp];
  for (int hh = warp; hh < h + 2 * K; hh += QKV_WARPS) {
    const float* src = qkv + static_cast<size_t>(r) * width + hh * D;
    float ss = 0.f;
    for (int i = lane; i < D; i += 32) {
      const float val = src[i] + (bias ? bias[hh * D + i] : 0.f);
      v[i] = val;
      ss += val * val;
    }
    const bool is_q = hh < h, is_k = !is_q && hh < h + K;
    if (q_norm && (is_q || is_k)) {  // Qwen3: RMSNorm over each head before RoPE
      const float inv = rsqrtf(warp_sum(ss) / D + eps);
      const float* g = is_q ? q_norm : k_norm;
      for (int i = lane; i < D; i += 32) v[i] = v[i] * inv * g[i];
    }
    __syncwarp();
    uint16_t* dst = is_q ? q + (static_cast<size_t>(r) * h + hh) * D
                         : kv_ptr(kv, block, layer, is_k ? 0 : 1, hh - h - (is_k ? 0 : K), slot);
    if (is_q || is_k) {
      for (int i = lane; i < half; i += 32) {
        // Angles in double, as the CPU reference: positions reach 1e5 and fp32 error grows.
        double s, c;
        sincos(static_cast<double>(meta.pos) * inv_freq[i], &s, &c);
        const float a = v[i], b = v[i + half];
        dst[i] = to_bf(a * static_cast<float>(c) - b * static_cast<float>(s));
        dst[i + half] = to_bf(b * static_cast<float>(c) + a * static_cast<float>(s));
      }
    } else {
      for (int i = lane; i < D; i += 32) dst[i] = to_bf(v[i]);
    }
    __syncwarp();  // v is rewritten for the next head
  }
}

// ---------------------------------------------------------------------------------------------
// Paged attention. One block per (tile, kv head): R = rows * G query rows share each K/V
// panel of P slots staged in shared memory; an online softmax runs across panels.
// Shared memory: q (R, D) f32, o (R, D) f32, k (P, D + 2) bf16, v (P, D) bf16, s (R, P) f32,
// m/l/corr (R,) f32. K rows are padded by one 4-byte word: in Q K^T a warp reads the 32
// slots' K at the same d, which without the pad all fall in one bank (a 32-way conflict).

constexpr int ATT_THREADS = 128, P = 32;

__host__ __device__ inline size_t att_smem(int r, int d) {
  return static_cast<size_t>(r) * d * 4 * 2 + static_cast<size_t>(P) * (d + 2) * 2 +
         static_cast<size_t>(P) * d * 2 + static_cast<size_t>(r) * P * 4 +
         static_cast<size_t>(r) * 4 * 3;
}

__device__ __forceinline__ bool sees(const RowMeta& m, int p) {
  return p <= m.slot && (p < m.shared || p >= m.lo);
}

__global__ void __launch_bounds__(ATT_THREADS)
    attention_kernel(const uint16_t* __restrict__ q, const RowMeta* __restrict__ rows,
                     const int* __restrict__ tables, const AttnTile* __restrict__ tiles, int h,
                     KvLayout kv, int layer, uint16_t* __restrict__ out) {
  extern __shared__ __align__(16) unsigned char smem[];
  const AttnTile tile = tiles[blockIdx.x];
  const int kvh = blockIdx.y, D = kv.head_dim, G = h / kv.kv_heads, R = tile.rows * G;
  float* qs = reinterpret_cast<float*>(smem);                       // (R, D)
  float* os = qs + static_cast<size_t>(R) * D;                      // (R, D)
  const int KS = D + 2;                                             // padded K row
  uint16_t* ks = reinterpret_cast<uint16_t*>(os + static_cast<size_t>(R) * D);  // (P, KS)
  uint16_t* vs = ks + P * KS;                                       // (P, D), 16-byte aligned
  float* ss = reinterpret_cast<float*>(vs + P * D);                 // (R, P)
  float* ms = ss + static_cast<size_t>(R) * P;                      // (R,)
  float* ls = ms + R;                                               // (R,)
  float* cs = ls + R;                                               // (R,)
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float scale = rsqrtf(static_cast<float>(D));

  int n = 0;  // slots any row of the tile may see: [0, max slot]
  for (int rr = 0; rr < tile.rows; ++rr) n = max(n, rows[tile.row0 + rr].slot + 1);
  for (int i = tid; i < R * D; i += ATT_THREADS) {
    const int qi = i / D, d = i % D, rr = qi / G, g = qi % G;
    qs[i] = bf(q[(static_cast<size_t>(tile.row0 + rr) * h + kvh * G + g) * D + d]) * scale;
    os[i] = 0.f;
  }
  for (int i = tid; i < R; i += ATT_THREADS) {
    ms[i] = -INFINITY;
    ls[i] = 0.f;
  }
  const int table = rows[tile.row0].table;  // a tile never crosses sequences
  for (int p0 = 0; p0 < n; p0 += P) {
    // Skip panels no row sees (other items' slots in multi-item scoring).
    bool mine = false;
    if (tid < tile.rows) {
      const RowMeta m = rows[tile.row0 + tid];
      mine = p0 <= m.slot && (p0 < m.shared || p0 + P - 1 >= m.lo);
    }
    if (!__syncthreads_or(mine)) continue;
    // Stage the panel: 16-byte pieces; slots past n are zeroed so 0 * garbage never occurs.
    const int pieces = D / 8;
    for (int i = tid; i < P * pieces; i += ATT_THREADS) {
      const int j = i / pieces, c = (i % pieces) * 8, p = p0 + j;
      uint4 kv4 = make_uint4(0, 0, 0, 0), vv4 = kv4;
      if (p < n) {
        const int block = tables[table + p / kv.block_tokens], slot = p % kv.block_tokens;
        kv4 = *reinterpret_cast<const uint4*>(kv_ptr(kv, block, layer, 0, kvh, slot) + c);
        vv4 = *reinterpret_cast<const uint4*>(kv_ptr(kv, block, layer, 1, kvh, slot) + c);
      }
      uint32_t* kd = reinterpret_cast<uint32_t*>(ks + j * KS + c);  // 4-byte aligned only
      kd[0] = kv4.x;
      kd[1] = kv4.y;
      kd[2] = kv4.z;
      kd[3] = kv4.w;
      *reinterpret_cast<uint4*>(vs + j * D + c) = vv4;
    }
    __syncthreads();
    for (int i = tid; i < R * P; i += ATT_THREADS) {
      const int qi = i / P, j = i % P;
      const RowMeta m = rows[tile.row0 + qi / G];
      float s = -INFINITY;
      if (sees(m, p0 + j)) {
        const float* qr = qs + static_cast<size_t>(qi) * D;
        const uint16_t* kr = ks + j * KS;
        s = 0.f;
        for (int d = 0; d < D; ++d) s += qr[d] * bf(kr[d]);
      }
      ss[i] = s;
    }
    __syncthreads();
    for (int qi = warp; qi < R; qi += ATT_THREADS / 32) {  // P == 32: one slot per lane
      const float s = ss[qi * P + lane];
      const float m_old = ms[qi], m_new = fmaxf(m_old, warp_max(s));
      float p = 0.f, corr = 1.f;
      if (m_new != -INFINITY) {
        p = s == -INFINITY ? 0.f : __expf(s - m_new);
        corr = m_old == -INFINITY ? 0.f : __expf(m_old - m_new);
      }
      ss[qi * P + lane] = p;
      const float sum = warp_sum(p);
      if (lane == 0) {
        ls[qi] = ls[qi] * corr + sum;
        ms[qi] = m_new;
        cs[qi] = corr;
      }
    }
    __syncthreads();
    for (int i = tid; i < R * D; i += ATT_THREADS) {
      const int qi = i / D, d = i % D;
      const float* pr = ss + qi * P;
      float acc = os[i] * cs[qi];
#pragma unroll 8
      for (int j = 0; j < P; ++j) acc += pr[j] * bf(vs[j * D + d]);
      os[i] = acc;
    }
    __syncthreads();
  }
  for (int i = tid; i < R * D; i += ATT_THREADS) {
    const int qi = i / D, d = i % D, rr = qi / G, g = qi % G;
    out[(static_cast<size_t>(tile.row0 + rr) * h + kvh * G + g) * D + d] = to_bf(os[i] / ls[qi]);
  }
}

__global__ void swiglu_kernel(const float* __restrict__ gu, int t, int f, uint16_t* __restrict__ act) {
  const size_t n = static_cast<size_t>(t) * f;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = i / f, j = i % f;
    const float g = gu[r * 2 * f + j], u = gu[r * 2 * f + f + j];
    act[i] = to_bf(g / (1.f + expf(-g)) * u);
  }
}

constexpr int MAX_TOPK = 8;

__global__ void moe_route_kernel(const float* __restrict__ logits, int t, int e, int k,
                                 int* __restrict__ idx, float* __restrict__ wt) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= t) return;
  const float* lr = logits + static_cast<size_t>(r) * e;
  int pick[MAX_TOPK];
  float val[MAX_TOPK];
  // Repeated argmax with strict '>' picks the lower index on ties, like a stable sort.
  for (int i = 0; i < k; ++i) {
    int best = -1;
    for (int j = 0; j < e; ++j) {
      bool taken = false;
      for (int q = 0; q < i; ++q) taken |= pick[q] == j;
      if (!taken && (best < 0 || lr[j] > lr[best])) best = j;
    }
    pick[i] = best;
    val[i] = lr[best];
  }
  double s = 0;
  for (int i = 0; i < k; ++i) s += exp(static_cast<double>(val[i]) - val[0]);
  for (int i = 0; i < k; ++i) {
    idx[r * k + i] = pick[i];
    wt[r * k + i] = static_cast<float>(exp(static_cast<double>(val[i]) - val[0]) / s);
  }
}

// One block, one thread per expert: each counts, then assigns its rows in row order.
__global__ void moe_group_kernel(const int* __restrict__ idx, int t, int e, int k,
                                 int* __restrict__ row0, int* __restrict__ src,
                                 int* __restrict__ dst) {
  extern __shared__ int cnt[];  // (E + 1,)
  const int x = threadIdx.x;
  if (x < e) {
    int c = 0;
    for (int i = 0; i < t * k; ++i) c += idx[i] == x;
    cnt[x + 1] = c;
  }
  __syncthreads();
  if (x == 0) {
    cnt[0] = 0;
    for (int i = 1; i <= e; ++i) cnt[i] += cnt[i - 1];
    for (int i = 0; i <= e; ++i) row0[i] = cnt[i];
  }
  __syncthreads();
  if (x < e) {
    int pos = cnt[x];
    for (int i = 0; i < t * k; ++i)
      if (idx[i] == x) {
        src[pos] = i / k;
        dst[i] = pos++;
      }
  }
}

__global__ void gather_rows_kernel(const uint16_t* __restrict__ h, const int* __restrict__ src,
                                   int c, uint16_t* __restrict__ xe) {
  const uint16_t* s = h + static_cast<size_t>(src[blockIdx.x]) * c;
  uint16_t* d = xe + static_cast<size_t>(blockIdx.x) * c;
  for (int i = threadIdx.x; i < c; i += blockDim.x) d[i] = s[i];
}

__global__ void moe_combine_kernel(const float* __restrict__ ye, const int* __restrict__ dst,
                                   const float* __restrict__ wt, int k, int c, float* __restrict__ x) {
  const int r = blockIdx.x;
  for (int i = threadIdx.x; i < c; i += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < k; ++j) acc += wt[r * k + j] * ye[static_cast<size_t>(dst[r * k + j]) * c + i];
    x[static_cast<size_t>(r) * c + i] += acc;
  }
}

// One block per row: (max, first index) reduction, then sum of exp(x - max).
__global__ void argmax_logprob_kernel(const float* __restrict__ logits, int v, float* __restrict__ out) {
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  const float* row = logits + static_cast<size_t>(blockIdx.x) * v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float bv = -INFINITY;
  int bi = v;  // past the end: loses every comparison
  for (int i = threadIdx.x; i < v; i += blockDim.x)
    if (row[i] > bv) {  // strict: within a thread indices ascend, so the first maximum stays
      bv = row[i];
      bi = i;
    }
  auto better = [](float av, int ai, float bv2, int bi2) { return av > bv2 || (av == bv2 && ai < bi2); };
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  if (lane == 0) {
    best_v[warp] = bv;
    best_i[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    bv = lane < (blockDim.x >> 5) ? best_v[lane] : -INFINITY;
    bi = lane < (blockDim.x >> 5) ? best_i[lane] : v;
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      best_v[0] = bv;
      best_i[0] = bi;
    }
  }
  __syncthreads();
  const float mx = best_v[0];
  const int id = best_i[0];
  float s = 0.f;
  for (int i = threadIdx.x; i < v; i += blockDim.x) s += expf(row[i] - mx);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = static_cast<float>(id);
    out[2 * blockIdx.x + 1] = -logf(s);  // logit[id] - (mx + log s), with logit[id] == mx
  }
}

__global__ void label_logits_kernel(const uint16_t* __restrict__ lm, const uint16_t* __restrict__ h,
                                    const int* __restrict__ row, const int* __restrict__ ids,
                                    int n, int c, float* __restrict__ out) {
  const int i = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (i >= n) return;
  const uint16_t* a = lm + static_cast<size_t>(ids[i]) * c;
  const uint16_t* b = h + static_cast<size_t>(row[i]) * c;
  float s = 0.f;
  for (int j = lane; j < c; j += 32) s += bf(a[j]) * bf(b[j]);
  s = warp_sum(s);
  if (lane == 0) out[i] = s;
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void fill_random_kernel(uint16_t* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float u = static_cast<float>(mix64(seed * 0x9e3779b97f4a7c15ull + i) >> 40) * (1.f / 16777216.f);
    p[i] = to_bf((2.f * u - 1.f) * scale);
  }
}

__global__ void fill_f32_kernel(float* p, size_t n, float v) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = v;
}

int grid_for(size_t n, int threads) {
  return static_cast<int>(std::min<size_t>((n + threads - 1) / threads, 65535));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers.

void gemm_bf16(const uint16_t* x, int m, int k, int ldx, const uint16_t* w, int n, float* y,
               int ldy, bool accumulate, cudaStream_t st) {
  dispatch_gemm(x, m, k, ldx, w, n, y, ldy, accumulate, nullptr, 1, st);
}

void gemm_bf16_grouped(const uint16_t* x, int k, int ldx, const uint16_t* w, int n, float* y,
                       int ldy, const int* row0, int groups, int max_rows, cudaStream_t st) {
  dispatch_gemm(x, max_rows, k, ldx, w, n, y, ldy, false, row0, groups, st);
}

void embed_gather(const uint16_t* embed, const int* tokens, int t, int c, float* x, cudaStream_t st) {
  if (t == 0) return;
  embed_kernel<<<t, 256, 0, st>>>(embed, tokens, c, x);
  cudaCheckLaunch();
}

void add_rmsnorm(float* x, const float* delta, const float* g, int t, int c, float eps,
                 uint16_t* h, const int* rows, cudaStream_t st) {
  if (t == 0) return;
  add_rmsnorm_kernel<<<t, 256, 0, st>>>(x, delta, g, c, eps, h, rows);
  cudaCheckLaunch();
}

void qkv_rope_store(const float* qkv, const float* bias, const float* q_norm, const float* k_norm,
                    float eps, const float* inv_freq, const RowMeta* rows, const int* tables,
                    int t, int h, KvLayout kv, int layer, uint16_t* q, cudaStream_t st) {
  if (kv.head_dim > MAX_D || kv.head_dim % 2 != 0)
    throw Error("qkv_rope_store: head_dim " + std::to_string(kv.head_dim) +
                " unsupported; expected an even value <= " + std::to_string(MAX_D));
  if (t == 0) return;
  qkv_rope_kernel<<<t, QKV_WARPS * 32, 0, st>>>(qkv, bias, q_norm, k_norm, eps, inv_freq, rows,
                                                 tables, h, kv, layer, q);
  cudaCheckLaunch();
}

// The attention kernel's dynamic shared memory limit, only ever raised: backends of several
// head geometries in one process (tests, benchmarks) all keep working.
size_t attention_smem_set = 0;

int attention_tile_rows(int heads, int kv_heads, int head_dim) {
  int dev = 0, limit = 0;
  cudaCheck(cudaGetDevice(&dev));
  cudaCheck(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  const int g = heads / kv_heads;
  int rows = std::max(1, 64 / g);  // ~64 query rows per K/V panel load, as on the CPU
  while (rows > 1 && att_smem(rows * g, head_dim) > static_cast<size_t>(limit)) rows /= 2;
  if (att_smem(rows * g, head_dim) > static_cast<size_t>(limit))
    throw Error("paged_attention: " + std::to_string(g) + " query heads per kv head of dim " +
                std::to_string(head_dim) + " need " + std::to_string(att_smem(g, head_dim)) +
                " bytes of shared memory; the device allows " + std::to_string(limit));
  if (att_smem(rows * g, head_dim) > attention_smem_set) {
    attention_smem_set = att_smem(rows * g, head_dim);
    cudaCheck(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(attention_smem_set)));
  }
  return rows;
}

void paged_attention(const uint16_t* q, const RowMeta* rows, const int* tables,
                     const AttnTile* tiles, int n_tiles, int max_tile_rows, int h, KvLayout kv,
                     int layer, uint16_t* out, cudaStream_t st) {
  if (kv.head_dim % 8 != 0)
    throw Error("paged_attention: head_dim " + std::to_string(kv.head_dim) +
                " is not a multiple of 8 (16-byte K/V loads)");
  if (att_smem(max_tile_rows * (h / kv.kv_heads), kv.head_dim) > attention_smem_set)
    throw Error("paged_attention: tiles of " + std::to_string(max_tile_rows) +
                " rows need more shared memory than attention_tile_rows() prepared (" +
                std::to_string(attention_smem_set) + " bytes)");
  if (n_tiles == 0) return;
  const size_t smem = att_smem(max_tile_rows * (h / kv.kv_heads), kv.head_dim);
  attention_kernel<<<dim3(n_tiles, kv.kv_heads), ATT_THREADS, smem, st>>>(q, rows, tables, tiles,
                                                                            h, kv, layer, out);
  cudaCheckLaunch();
}

void swiglu(const float* gu, int t, int f, uint16_t* act, cudaStream_t st) {
  const size_t n = static_cast<size_t>(t) * f;
  if (n == 0) return;
  swiglu_kernel<<<grid_for(n, 256), 256, 0, st>>>(gu, t, f, act);
  cudaCheckLaunch();
}

void moe_route(const float* logits, int t, int e, int k, int* idx, float* wt, cudaStream_t st) {
  if (k > MAX_TOPK || k > e)
    throw Error("moe_route: top-" + std::to_string(k) + " of " + std::to_string(e) +
                " experts unsupported; expected k <= min(E, " + std::to_string(MAX_TOPK) + ")");
  if (t == 0) return;
  moe_route_kernel<<<(t + 127) / 128, 128, 0, st>>>(logits, t, e, k, idx, wt);
  cudaCheckLaunch();
}

void moe_group(const int* idx, int t, int e, int k, int* row0, int* src, int* dst, cudaStream_t st) {
  if (e > 1024) throw Error("moe_group: " + std::to_string(e) + " experts; expected <= 1024");
  moe_group_kernel<<<1, ((e + 31) / 32) * 32, (e + 1) * sizeof(int), st>>>(idx, t, e, k, row0, src, dst);
  cudaCheckLaunch();
}

void gather_rows(const uint16_t* h, const int* src, int n, int c, uint16_t* xe, cudaStream_t st) {
  if (n == 0) return;
  gather_rows_kernel<<<n, 256, 0, st>>>(h, src, c, xe);
  cudaCheckLaunch();
}

void moe_combine(const float* ye, const int* dst, const float* wt, int t, int k, int c, float* x,
                 cudaStream_t st) {
  if (t == 0) return;
  moe_combine_kernel<<<t, 256, 0, st>>>(ye, dst, wt, k, c, x);
  cudaCheckLaunch();
}

void label_logits(const uint16_t* lm_head, const uint16_t* h, const int* row, const int* ids,
                  int n, int c, float* out, cudaStream_t st) {
  if (n == 0) return;
  label_logits_kernel<<<(n + 7) / 8, 256, 0, st>>>(lm_head, h, row, ids, n, c, out);
  cudaCheckLaunch();
}

void argmax_logprob(const float* logits, int n, int v, float* out, cudaStream_t st) {
  if (n == 0) return;
  argmax_logprob_kernel<<<n, 256, 0, st>>>(logits, v, out);
  cudaCheckLaunch();
}

void fill_random_bf16(uint16_t* p, size_t n, uint64_t seed, float scale, cudaStream_t st) {
  if (n == 0) return;
  fill_random_kernel<<<grid_for(n, 256), 256, 0, st>>>(p, n, seed, scale);
  cudaCheckLaunch();
}

void fill_f32(float* p, size_t n, float v, cudaStream_t st) {
  if (n == 0) return;
  fill_f32_kernel<<<grid_for(n, 256), 256, 0, st>>>(p, n, v);
  cudaCheckLaunch();
}

}  // namespace bg::cuda
