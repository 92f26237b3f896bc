// Tiled GEMM main loops shared by gemm.cu (plain batched GEMM) and convolution.cu (implicit-GEMM
// convolutions): C (M x N) = A (M x K) * B (K x N) per batch index, where A and B are not matrices
// in memory but "loaders" that produce A(i, k) and B(k, j) on demand (a strided matrix, or an
// im2col gather from an image), and C goes to an "epilogue" that stores it (alpha/beta, bias, or
// a scatter back into NCHW). The loops never see the layout of the data.
//
// Interfaces (duck-typed, all members __device__):
//   Loader L:   struct Col;                    per-row (A) or per-column (B) state, computed once
//               Col col(int batch, int mn);    mn may be >= the extent: the column then loads zeros
//               float load(const Col&, int k); k is always inside [0, K) here
//   Epilogue E: struct Col;
//               Col col(int batch, int split, int j);   j < N
//               void store(const Col&, int i, float v); i < M
//
// Tile loading: each block tile of an operand (BMN rows of M or N by BK of K) is read into
// registers by all threads, then written to shared memory. Two thread-to-element mappings:
//   K-major  (KMAJOR = true):  a thread's k inside the tile is fixed, consecutive threads walk k,
//                              for operands contiguous along k (row-major A, transposed B);
//   MN-major (KMAJOR = false): a thread's row/column is fixed for the whole K loop (its Col is
//                              computed once: im2col index math leaves the inner loop), consecutive
//                              threads walk m or n, for operands contiguous along m or n.
//
// Split-K: blockIdx.z = batch * splits + split; split s covers a BK-aligned chunk of K, and the
// epilogue writes partial sums that a separate pass adds in split order (deterministic).
#pragma once

#include "graft_cuda.h"

#define GRAFT_MEMBER __device__ __forceinline__

namespace graft_gemm {

// A matrix in memory: element (mn, k) of batch b at base[b * batchStride + mn * mnStride + k * kStride].
struct Dense {
    const float* base;
    long long batchStride;
    long long mnStride;
    long long kStride;
    int extent;

    struct Col {
        const float* p;
    };
    GRAFT_MEMBER Col col(int batch, int mn) const {
        Col c;
        c.p = mn < extent ? base + batch * batchStride + mn * mnStride : nullptr;
        return c;
    }
    GRAFT_MEMBER float load(const Col& c, int k) const { return c.p ? c.p[k * kStride] : 0.0f; }
};

// 16-byte shared-memory reads in the SIMT inner loop (ld.shared.v4 on the GPU).
struct alignas(16) Float4 {
    float x, y, z, w;
};

// What one block computes, from its grid position: the origin (m0, n0) of its BM x BN output tile
// (blockIdx.x runs row-major over the tiles, ceil(N / BN) per row), its batch and K split
// (blockIdx.z = batch * splits + split), and the split's K range [kBegin, kEnd): BK-aligned chunks,
// the last one shorter (or empty).
struct BlockWork {
    int m0, n0, batch, split, kBegin, kEnd;

    GRAFT_MEMBER BlockWork(int N, int K, int splits, int BM, int BN, int BK) {
        int tilesN = (N + BN - 1) / BN;
        m0 = (int)(blockIdx.x / tilesN) * BM;
        n0 = (int)(blockIdx.x % tilesN) * BN;
        batch = blockIdx.z / splits;
        split = blockIdx.z % splits;
        int chunk = ((K + splits - 1) / splits + BK - 1) / BK * BK;
        long long b = (long long)split * chunk;
        kBegin = (int)lmin(b, (long long)K);
        kEnd = (int)lmin(b + chunk, (long long)K);
    }
};

// One operand's block tile in registers (see the mappings above).
template <int BMN, int BK, int THREADS, bool KMAJOR, class L>
struct Tile {
    static constexpr int COUNT = BMN * BK / THREADS;
    static_assert(BMN * BK % THREADS == 0, "tile must split evenly over the threads");
    static_assert(KMAJOR ? THREADS % BK == 0 : THREADS % BMN == 0, "a thread's fixed coordinate must not change");

    float v[COUNT];
    typename L::Col fixed;  // MN-major: the thread's row/column

    GRAFT_MEMBER static int kOf(int r) {
        return KMAJOR ? (int)threadIdx.x % BK : (int)threadIdx.x / BMN + r * (THREADS / BMN);
    }
    GRAFT_MEMBER static int mnOf(int r) {
        return KMAJOR ? (int)threadIdx.x / BK + r * (THREADS / BK) : (int)threadIdx.x % BMN;
    }
    GRAFT_MEMBER void init(const L& l, int batch, int mn0) {
        if constexpr (!KMAJOR) fixed = l.col(batch, mn0 + (int)threadIdx.x % BMN);
    }
    // Reads the tile whose first k is k0; elements at k >= kEnd are zeros.
    GRAFT_MEMBER void load(const L& l, int batch, int mn0, int k0, int kEnd) {
#pragma unroll
        for (int r = 0; r < COUNT; r++) {
            int k = k0 + kOf(r);
            if constexpr (KMAJOR) v[r] = k < kEnd ? l.load(l.col(batch, mn0 + mnOf(r)), k) : 0.0f;
            else v[r] = k < kEnd ? l.load(fixed, k) : 0.0f;
        }
    }
};

// ------------------------------------------------------------------ FP32 SIMT
//
// 256 threads as 16 x 16, each computing TM x TN outputs (TM, TN multiples of 4): rows
// g * 64 + ty * 4 + {0..3} for g < TM / 4, columns likewise with tx, so a warp's shared reads are
// 16-byte vectors without bank conflicts. Block tile (16 TM) x (16 TN) x 8, shared memory
// double-buffered (one barrier per k step), the next tile's global loads in flight in registers
// while the current one is multiplied. Exact FP32 (one fma per product).
template <int TM, int TN, bool A_KMAJOR, bool B_KMAJOR, class LA, class LB, class EP>
GRAFT_DEVICE void simt_gemm(const LA& la, const LB& lb, const EP& ep, int M, int N, int K, int splits) {
    constexpr int BK = 8, THREADS = 256, BM = 16 * TM, BN = 16 * TN, PAD = 4;
    struct alignas(16) Smem {
        float a[2][BK][BM + PAD];
        float b[2][BK][BN + PAD];
    };
    __shared__ Smem sm;

    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const BlockWork work(N, K, splits, BM, BN, BK);
    const int m0 = work.m0, n0 = work.n0, batch = work.batch, split = work.split, kBegin = work.kBegin, kEnd = work.kEnd;

    Tile<BM, BK, THREADS, A_KMAJOR, LA> ta;
    Tile<BN, BK, THREADS, B_KMAJOR, LB> tb;
    ta.init(la, batch, m0);
    tb.init(lb, batch, n0);

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    int buf = 0;
    if (kBegin < kEnd) {
        ta.load(la, batch, m0, kBegin, kEnd);
        tb.load(lb, batch, n0, kBegin, kEnd);
#pragma unroll
        for (int r = 0; r < ta.COUNT; r++) sm.a[0][ta.kOf(r)][ta.mnOf(r)] = ta.v[r];
#pragma unroll
        for (int r = 0; r < tb.COUNT; r++) sm.b[0][tb.kOf(r)][tb.mnOf(r)] = tb.v[r];
    }
    __syncthreads();
    for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
        const bool more = k0 + BK < kEnd;
        if (more) {
            ta.load(la, batch, m0, k0 + BK, kEnd);
            tb.load(lb, batch, n0, k0 + BK, kEnd);
        }
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int g = 0; g < TM / 4; g++) {
                Float4 v = *reinterpret_cast<const Float4*>(&sm.a[buf][kk][g * 64 + ty * 4]);
                a[4 * g] = v.x, a[4 * g + 1] = v.y, a[4 * g + 2] = v.z, a[4 * g + 3] = v.w;
            }
#pragma unroll
            for (int g = 0; g < TN / 4; g++) {
                Float4 v = *reinterpret_cast<const Float4*>(&sm.b[buf][kk][g * 64 + tx * 4]);
                b[4 * g] = v.x, b[4 * g + 1] = v.y, b[4 * g + 2] = v.z, b[4 * g + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] += a[i] * b[j];
        }
        // The other buffer was last read before the previous barrier: safe to fill now.
        if (more) {
#pragma unroll
            for (int r = 0; r < ta.COUNT; r++) sm.a[buf ^ 1][ta.kOf(r)][ta.mnOf(r)] = ta.v[r];
#pragma unroll
            for (int r = 0; r < tb.COUNT; r++) sm.b[buf ^ 1][tb.kOf(r)][tb.mnOf(r)] = tb.v[r];
        }
        __syncthreads();
        buf ^= 1;
    }

#pragma unroll
    for (int j = 0; j < TN; j++) {
        int col = n0 + (j / 4) * 64 + tx * 4 + j % 4;
        if (col >= N) continue;
        typename EP::Col c = ep.col(batch, split, col);
#pragma unroll
        for (int i = 0; i < TM; i++) {
            int row = m0 + (i / 4) * 64 + ty * 4 + i % 4;
            if (row < M) ep.store(c, row, acc[i][j]);
        }
    }
}

// ------------------------------------------------------------------ TF32 tensor cores
//
// Warps of 32 arranged WARPS_M x WARPS_N, each owning a WM x WN piece of the BM x BN block tile as
// (WM / 16) x (WN / 8) mma.m16n8k8 tiles; K in steps of BK = 32. Operands are rounded to TF32
// (cvt.rna) once, when stored to shared memory. Shared layout per operand follows its load mapping
// so that both the stores and the fragment reads are free of bank conflicts:
//   K-major:  [mn][k], row stride BK + 4  (fragment reads hit banks 4g + t)
//   MN-major: [k][mn], row stride BMN + 8 (fragment reads hit banks 8t + g)
// The next tile's global loads are issued before the current tile's mma work (register double
// buffering); one shared buffer, two barriers per k step (two buffers would exceed 48 KiB).
template <int BMN, int BK, bool KMAJOR>
struct Tf32Layout {
    static constexpr int SIZE = KMAJOR ? BMN * (BK + 4) : BK * (BMN + 8);
    GRAFT_MEMBER static int at(int mn, int k) { return KMAJOR ? mn * (BK + 4) + k : k * (BMN + 8) + mn; }
};

template <int BM, int BN, int WM, int WN, bool A_KMAJOR, bool B_KMAJOR, class LA, class LB, class EP>
GRAFT_DEVICE void tf32_gemm(const LA& la, const LB& lb, const EP& ep, int M, int N, int K, int splits) {
    constexpr int BK = 32, WARPS_M = BM / WM, WARPS_N = BN / WN, THREADS = 32 * WARPS_M * WARPS_N;
    constexpr int FM = WM / 16, FN = WN / 8;
    using LayoutA = Tf32Layout<BM, BK, A_KMAJOR>;
    using LayoutB = Tf32Layout<BN, BK, B_KMAJOR>;
    struct Smem {
        uint32_t a[LayoutA::SIZE];
        uint32_t b[LayoutB::SIZE];
    };
    __shared__ Smem sm;

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int g = lane / 4, t = lane % 4;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const BlockWork work(N, K, splits, BM, BN, BK);
    const int m0 = work.m0, n0 = work.n0, batch = work.batch, split = work.split, kBegin = work.kBegin, kEnd = work.kEnd;

    Tile<BM, BK, THREADS, A_KMAJOR, LA> ta;
    Tile<BN, BK, THREADS, B_KMAJOR, LB> tb;
    ta.init(la, batch, m0);
    tb.init(lb, batch, n0);
    if (kBegin < kEnd) {
        ta.load(la, batch, m0, kBegin, kEnd);
        tb.load(lb, batch, n0, kBegin, kEnd);
    }

    float acc[FM][FN][4];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = 0.0f;

    for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
        __syncthreads();  // the previous step's fragment reads are done
#pragma unroll
        for (int r = 0; r < ta.COUNT; r++) sm.a[LayoutA::at(ta.mnOf(r), ta.kOf(r))] = graft_to_tf32(ta.v[r]);
#pragma unroll
        for (int r = 0; r < tb.COUNT; r++) sm.b[LayoutB::at(tb.mnOf(r), tb.kOf(r))] = graft_to_tf32(tb.v[r]);
        __syncthreads();
        if (k0 + BK < kEnd) {
            ta.load(la, batch, m0, k0 + BK, kEnd);
            tb.load(lb, batch, n0, k0 + BK, kEnd);
        }
#pragma unroll
        for (int ks = 0; ks < BK; ks += 8) {
            uint32_t af[FM][4], bf[FN][2];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                int r = wm * WM + i * 16 + g;
                af[i][0] = sm.a[LayoutA::at(r, ks + t)];
                af[i][1] = sm.a[LayoutA::at(r + 8, ks + t)];
                af[i][2] = sm.a[LayoutA::at(r, ks + t + 4)];
                af[i][3] = sm.a[LayoutA::at(r + 8, ks + t + 4)];
            }
#pragma unroll
            for (int j = 0; j < FN; j++) {
                int c = wn * WN + j * 8 + g;  // B[k][n] with n = g: the fragment's column
                bf[j][0] = sm.b[LayoutB::at(c, ks + t)];
                bf[j][1] = sm.b[LayoutB::at(c, ks + t + 4)];
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) graft_mma_tf32_m16n8k8(acc[i][j], af[i], bf[j], acc[i][j]);
        }
    }

    // c[0] = C[g][2t], c[1] = C[g][2t+1], c[2] = C[g+8][2t], c[3] = C[g+8][2t+1]
#pragma unroll
    for (int j = 0; j < FN; j++) {
#pragma unroll
        for (int q = 0; q < 2; q++) {
            int col = n0 + wn * WN + j * 8 + 2 * t + q;
            if (col >= N) continue;
            typename EP::Col c = ep.col(batch, split, col);
#pragma unroll
            for (int i = 0; i < FM; i++) {
                int row = m0 + wm * WM + i * 16 + g;
                if (row < M) ep.store(c, row, acc[i][j][q]);
                if (row + 8 < M) ep.store(c, row + 8, acc[i][j][q + 2]);
            }
        }
    }
}

}  // namespace graft_gemm
