// Batched row-major GEMM for the CUDA backend (CudaGemm): C_b = alpha * op(A_b) * op(B_b) + beta * C_b,
// op(A) m x k, op(B) k x n, the b-th matrix of each operand strideX elements after the first
// (stride 0 broadcasts). beta = 0 never reads C, so NaN there does not propagate.
//
// Kernels (one per transpose pair nn, nt, tn, tt; the main loops are in graft_gemm.h):
//   gemm_simt128_XX_f32   exact FP32, block tile 128 x 128 x 8, 256 threads of 8 x 8 outputs
//   gemm_simt64_XX_f32    exact FP32, block tile 64 x 64 x 8, 256 threads of 4 x 4 outputs
//   gemm_tf32_128_XX_f32  TF32 tensor cores (mma.m16n8k8), 128 x 128 x 32, 8 warps of 64 x 32
//   gemm_tf32_64_XX_f32   TF32 tensor cores, 64 x 64 x 32, 4 warps of 32 x 32
// Grid: x = m tiles * n tiles (n fastest), z = batch * splits. With splits > 1 (split-K, for
// products with few tiles and a long k) each split writes its partial product to ws
// (batch, split, m, n) and gemm_splitk_reduce_f32 adds them in split order and applies alpha and
// beta: deterministic, no atomics.
//   gemm_splitk_reduce_f32  C = alpha * sum_s ws[b][s] + beta * C
//   gemm_scale_f32          C = beta * C (k = 0 or alpha = 0: A and B are not read)

#include "graft_gemm.h"

namespace {

using graft_gemm::Dense;

// C (or the split-K workspace) as the GEMM epilogue.
struct GemmOut {
    float* c;
    float* ws;
    long long strideC;
    int m, n, splits;
    float alpha, beta;

    struct Col {
        float* p;
    };
    GRAFT_MEMBER Col col(int batch, int split, int j) const {
        Col r;
        r.p = ws ? ws + ((long long)batch * splits + split) * m * n + j : c + batch * strideC + j;
        return r;
    }
    GRAFT_MEMBER void store(const Col& col, int i, float v) const {
        float* q = col.p + (long long)i * n;
        if (ws) {
            *q = v;
        } else {
            float r = alpha * v;
            if (beta != 0.0f) r += beta * *q;
            *q = r;
        }
    }
};

// op(A) (m x k): row-major m x k, or stored k x m when transposed.
GRAFT_DEVICE Dense operand_a(const float* a, long long strideA, int m, int k, bool trans) {
    Dense d;
    d.base = a;
    d.batchStride = strideA;
    d.mnStride = trans ? 1 : k;
    d.kStride = trans ? m : 1;
    d.extent = m;
    return d;
}

// op(B) (k x n): row-major k x n, or stored n x k when transposed.
GRAFT_DEVICE Dense operand_b(const float* b, long long strideB, int n, int k, bool trans) {
    Dense d;
    d.base = b;
    d.batchStride = strideB;
    d.mnStride = trans ? k : 1;
    d.kStride = trans ? 1 : n;
    d.extent = n;
    return d;
}

GRAFT_DEVICE GemmOut output(float* c, float* ws, long long strideC, int m, int n, int splits, float alpha, float beta) {
    GemmOut o;
    o.c = c;
    o.ws = splits > 1 ? ws : nullptr;
    o.strideC = strideC;
    o.m = m;
    o.n = n;
    o.splits = splits;
    o.alpha = alpha;
    o.beta = beta;
    return o;
}

}  // namespace

// A row-major A is contiguous along k (K-major tile loads), a transposed one along m; B the other way round.
#define GRAFT_GEMM_KERNEL(NAME, THREADS, TA, TB, LOOP)                                                           \
    __global__ void __launch_bounds__(THREADS)                                                                   \
        NAME(const float* a, const float* b, float* c, float* ws, long long strideA, long long strideB,        \
             long long strideC, int m, int n, int k, int splits, float alpha, float beta) {                      \
        Dense la = operand_a(a, strideA, m, k, TA), lb = operand_b(b, strideB, n, k, TB);                       \
        GemmOut ep = output(c, ws, strideC, m, n, splits, alpha, beta);                                          \
        LOOP<!TA, TB>(la, lb, ep, m, n, k, splits);                                                              \
    }

// The four main loops with the <A_KMAJOR, B_KMAJOR> shape GRAFT_GEMM_KERNEL calls.
template <bool AK, bool BK>
GRAFT_DEVICE void loop_simt128(const Dense& a, const Dense& b, const GemmOut& e, int m, int n, int k, int s) {
    graft_gemm::simt_gemm<8, 8, AK, BK>(a, b, e, m, n, k, s);
}
template <bool AK, bool BK>
GRAFT_DEVICE void loop_simt64(const Dense& a, const Dense& b, const GemmOut& e, int m, int n, int k, int s) {
    graft_gemm::simt_gemm<4, 4, AK, BK>(a, b, e, m, n, k, s);
}
template <bool AK, bool BK>
GRAFT_DEVICE void loop_tf32_128(const Dense& a, const Dense& b, const GemmOut& e, int m, int n, int k, int s) {
    graft_gemm::tf32_gemm<128, 128, 64, 32, AK, BK>(a, b, e, m, n, k, s);
}
template <bool AK, bool BK>
GRAFT_DEVICE void loop_tf32_64(const Dense& a, const Dense& b, const GemmOut& e, int m, int n, int k, int s) {
    graft_gemm::tf32_gemm<64, 64, 32, 32, AK, BK>(a, b, e, m, n, k, s);
}

extern "C" {

GRAFT_GEMM_KERNEL(gemm_simt128_nn_f32, 256, false, false, loop_simt128)
GRAFT_GEMM_KERNEL(gemm_simt128_nt_f32, 256, false, true, loop_simt128)
GRAFT_GEMM_KERNEL(gemm_simt128_tn_f32, 256, true, false, loop_simt128)
GRAFT_GEMM_KERNEL(gemm_simt128_tt_f32, 256, true, true, loop_simt128)
GRAFT_GEMM_KERNEL(gemm_simt64_nn_f32, 256, false, false, loop_simt64)
GRAFT_GEMM_KERNEL(gemm_simt64_nt_f32, 256, false, true, loop_simt64)
GRAFT_GEMM_KERNEL(gemm_simt64_tn_f32, 256, true, false, loop_simt64)
GRAFT_GEMM_KERNEL(gemm_simt64_tt_f32, 256, true, true, loop_simt64)
GRAFT_GEMM_KERNEL(gemm_tf32_128_nn_f32, 256, false, false, loop_tf32_128)
GRAFT_GEMM_KERNEL(gemm_tf32_128_nt_f32, 256, false, true, loop_tf32_128)
GRAFT_GEMM_KERNEL(gemm_tf32_128_tn_f32, 256, true, false, loop_tf32_128)
GRAFT_GEMM_KERNEL(gemm_tf32_128_tt_f32, 256, true, true, loop_tf32_128)
GRAFT_GEMM_KERNEL(gemm_tf32_64_nn_f32, 128, false, false, loop_tf32_64)
GRAFT_GEMM_KERNEL(gemm_tf32_64_nt_f32, 128, false, true, loop_tf32_64)
GRAFT_GEMM_KERNEL(gemm_tf32_64_tn_f32, 128, true, false, loop_tf32_64)
GRAFT_GEMM_KERNEL(gemm_tf32_64_tt_f32, 128, true, true, loop_tf32_64)

// C_b = alpha * (sum over s of ws[b][s]) + beta * C_b for b < batch, the splits added in order.
__global__ void gemm_splitk_reduce_f32(const float* __restrict__ ws, float* c, long long strideC, int batch, int m,
                                       int n, int splits, float alpha, float beta) {
    long long mn = (long long)m * n;
    GRAFT_FOR(e, batch * mn) {
        long long b = e / mn, r = e - b * mn;
        const float* p = ws + b * splits * mn + r;
        float s = 0.0f;
        for (int i = 0; i < splits; i++) s += p[i * mn];
        float* q = c + b * strideC + r;
        float v = alpha * s;
        if (beta != 0.0f) v += beta * *q;
        *q = v;
    }
}

// C_b = beta * C_b (zeros without reading C when beta = 0).
__global__ void gemm_scale_f32(float* c, long long strideC, int batch, long long mn, float beta) {
    GRAFT_FOR(e, batch * mn) {
        long long b = e / mn;
        float* q = c + b * strideC + (e - b * mn);
        *q = beta == 0.0f ? 0.0f : beta * *q;
    }
}

GRAFT_EXPORT(gemm_simt128_nn_f32)
GRAFT_EXPORT(gemm_simt128_nt_f32)
GRAFT_EXPORT(gemm_simt128_tn_f32)
GRAFT_EXPORT(gemm_simt128_tt_f32)
GRAFT_EXPORT(gemm_simt64_nn_f32)
GRAFT_EXPORT(gemm_simt64_nt_f32)
GRAFT_EXPORT(gemm_simt64_tn_f32)
GRAFT_EXPORT(gemm_simt64_tt_f32)
GRAFT_EXPORT(gemm_tf32_128_nn_f32)
GRAFT_EXPORT(gemm_tf32_128_nt_f32)
GRAFT_EXPORT(gemm_tf32_128_tn_f32)
GRAFT_EXPORT(gemm_tf32_128_tt_f32)
GRAFT_EXPORT(gemm_tf32_64_nn_f32)
GRAFT_EXPORT(gemm_tf32_64_nt_f32)
GRAFT_EXPORT(gemm_tf32_64_tn_f32)
GRAFT_EXPORT(gemm_tf32_64_tt_f32)
GRAFT_EXPORT_NOSYNC(gemm_splitk_reduce_f32)
GRAFT_EXPORT_NOSYNC(gemm_scale_f32)

}  // extern "C"
