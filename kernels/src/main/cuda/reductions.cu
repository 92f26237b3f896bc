// Sum and softmax kernels of the CUDA backend (host side: CudaReductions).
//
// Deterministic by construction: every sum is accumulated in double (as the CPU backend's
// CpuReductions) in an order fixed by the shapes alone, never by timing or the GPU's size. A
// thread adds its elements in index order; blocks combine threads through a fixed shared-memory
// tree; multi-chunk sums write per-chunk partials that a second kernel adds in chunk order. No
// atomics.
//
// Every block-wide kernel here runs with exactly RD_THREADS threads per block.

#include "graft_cuda.h"

#define RD_THREADS 256
#define RD_MAX_RANK 8

// A sum reduction split into kept dimensions (one output each, strides in x and in out) and reduced
// dimensions (strides in x), each merged by the host: 42 ints.
struct SumDims {
    int krank;
    int kshape[RD_MAX_RANK];
    int kx[RD_MAX_RANK];
    int ko[RD_MAX_RANK];
    int rrank;
    int rshape[RD_MAX_RANK];
    int rx[RD_MAX_RANK];
};

// x and out offsets of kept index o.
GRAFT_DEVICE void rd_kept(const SumDims& d, int o, int& xo, int& oo) {
    unsigned rem = (unsigned)o;
    xo = 0;
    oo = 0;
    for (int k = d.krank - 1; k >= 0; k--) {
        unsigned s = (unsigned)d.kshape[k];
        int c = (int)(rem % s);
        rem /= s;
        xo += c * d.kx[k];
        oo += c * d.ko[k];
    }
}

// x offset of reduced index r.
GRAFT_DEVICE int rd_reduced(const SumDims& d, int r) {
    unsigned rem = (unsigned)r;
    int xo = 0;
    for (int k = d.rrank - 1; k >= 0; k--) {
        unsigned s = (unsigned)d.rshape[k];
        xo += (int)(rem % s) * d.rx[k];
        rem /= s;
    }
    return xo;
}

// Σ over reduced indices [r0, r1) of x[r·rx] in index order, in double. Walks the innermost reduced
// dimension as a plain strided loop and unravels the outer ones once per row.
GRAFT_DEVICE double rd_sum_range(const float* x, const SumDims& d, int r0, int r1) {
    double acc = 0.0;
    if (d.rrank == 0) return r0 < r1 ? (double)x[0] : 0.0;
    int inner = d.rshape[d.rrank - 1], step = d.rx[d.rrank - 1];
    int r = r0;
    while (r < r1) {
        int j = r % inner, len = imin(inner - j, r1 - r);
        const float* p = x + rd_reduced(d, r);
        for (int t = 0; t < len; t++) acc += (double)p[t * step];
        r += len;
    }
    return acc;
}

// Sum over the block of RD_THREADS threads through a fixed tree in shared memory; every thread gets
// the total. sh: __shared__ double[RD_THREADS] of the caller.
GRAFT_DEVICE double rd_block_sum(double v, double* sh) {
    int t = threadIdx.x;
    __syncthreads();  // sh may still be read by a previous call
    sh[t] = v;
    __syncthreads();
    for (int s = RD_THREADS / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] += sh[t + s];
        __syncthreads();
    }
    return sh[0];
}

// max(a, b) with Java's Math.max semantics for NaN: NaN wins.
GRAFT_DEVICE float rd_max(float a, float b) {
    return a != a || a > b ? a : b;
}

// NaN-propagating maximum over the block, as rd_block_sum.
GRAFT_DEVICE float rd_block_max(float v, float* sh) {
    int t = threadIdx.x;
    __syncthreads();
    sh[t] = v;
    __syncthreads();
    for (int s = RD_THREADS / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] = rd_max(sh[t], sh[t + s]);
        __syncthreads();
    }
    return sh[0];
}

extern "C" {

// One thread per (kept index o, chunk c), with o fastest (neighbouring threads read neighbouring
// columns when the kept dimensions are innermost). chunks == 1: out[ko(o)] = Σ; otherwise the chunk's
// double sum goes to partial[c·K + o] for sum_finish_f32. Chunk c covers reduced indices
// [c·chunkLen, (c+1)·chunkLen).
__global__ void sum_thread_f32(const float* x, float* out, double* partial, int K, int R, int chunks, int chunkLen,
                               SumDims d) {
    long long items = (long long)K * chunks;
    GRAFT_FOR(t, items) {
        int o = (int)(t % K), c = (int)(t / K);
        int xo, oo;
        rd_kept(d, o, xo, oo);
        int r0 = c * chunkLen, r1 = (int)lmin((long long)r0 + chunkLen, R);
        double s = rd_sum_range(x + xo, d, r0, r1);
        if (chunks == 1) out[oo] = (float)s;
        else partial[t] = s;
    }
}

// One block of RD_THREADS per (kept index o, chunk c), block index o·chunks + c: the threads add
// strided elements of the chunk, then the block tree. chunks == 1: out[ko(o)] = Σ; otherwise
// partial[o·chunks + c].
__global__ void sum_block_f32(const float* x, float* out, double* partial, int K, int R, int chunks, int chunkLen,
                              SumDims d) {
    __shared__ double sh[RD_THREADS];
    long long blocks = (long long)K * chunks;
    for (long long b = blockIdx.x; b < blocks; b += gridDim.x) {
        int o = (int)(b / chunks), c = (int)(b % chunks);
        int xo, oo;
        rd_kept(d, o, xo, oo);
        int r0 = c * chunkLen, r1 = (int)lmin((long long)r0 + chunkLen, R);
        double acc = 0.0;
        for (int r = r0 + (int)threadIdx.x; r < r1; r += RD_THREADS) acc += (double)x[xo + rd_reduced(d, r)];
        double s = rd_block_sum(acc, sh);
        if (threadIdx.x == 0) {
            if (chunks == 1) out[oo] = (float)s;
            else partial[b] = s;
        }
    }
}

// out[ko(o)] = Σ_c partial[o·oStride + c·cStride] in chunk order.
__global__ void sum_finish_f32(const double* partial, float* out, int K, int chunks, int oStride, int cStride, SumDims d) {
    GRAFT_FOR(o, (long long)K) {
        double s = 0.0;
        for (int c = 0; c < chunks; c++) s += partial[o * oStride + (long long)c * cStride];
        int xo, oo;
        rd_kept(d, (int)o, xo, oo);
        out[oo] = (float)s;
    }
}

// Softmax of x viewed as (outer, n, inner) along n, one column (o, j) per thread. As the CPU: the
// maximum with NaN winning; e = exp(x − max) in float, summed in double; softmax y = e · (float)(1/Σ),
// log-softmax y = x − max − (float)log Σ.
__global__ void softmax_thread_f32(const float* x, float* y, int outer, int n, int inner, int isLog) {
    long long columns = (long long)outer * inner;
    GRAFT_FOR(col, columns) {
        int o = (int)(col / inner), j = (int)(col % inner);
        long long base = (long long)o * n * inner + j;
        const float* xc = x + base;
        float* yc = y + base;
        float m = -INFINITY;
        for (int i = 0; i < n; i++) m = rd_max(m, xc[(long long)i * inner]);
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            float e = expf(xc[(long long)i * inner] - m);
            if (!isLog) yc[(long long)i * inner] = e;
            sum += (double)e;
        }
        if (isLog) {
            float lse = (float)log(sum);
            for (int i = 0; i < n; i++) yc[(long long)i * inner] = xc[(long long)i * inner] - m - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (int i = 0; i < n; i++) yc[(long long)i * inner] *= inv;
        }
    }
}

// The same with one block of RD_THREADS per column (long rows): block max, block sum, then the
// outputs. Each thread rereads only the y elements it wrote itself.
__global__ void softmax_block_f32(const float* x, float* y, int outer, int n, int inner, int isLog) {
    __shared__ float shMax[RD_THREADS];
    __shared__ double shSum[RD_THREADS];
    long long columns = (long long)outer * inner;
    for (long long col = blockIdx.x; col < columns; col += gridDim.x) {
        int o = (int)(col / inner), j = (int)(col % inner);
        long long base = (long long)o * n * inner + j;
        const float* xc = x + base;
        float* yc = y + base;
        float m = -INFINITY;
        for (int i = threadIdx.x; i < n; i += RD_THREADS) m = rd_max(m, xc[(long long)i * inner]);
        m = rd_block_max(m, shMax);
        double part = 0.0;
        for (int i = threadIdx.x; i < n; i += RD_THREADS) {
            float e = expf(xc[(long long)i * inner] - m);
            if (!isLog) yc[(long long)i * inner] = e;
            part += (double)e;
        }
        double sum = rd_block_sum(part, shSum);
        if (isLog) {
            float lse = (float)log(sum);
            for (int i = threadIdx.x; i < n; i += RD_THREADS) yc[(long long)i * inner] = xc[(long long)i * inner] - m - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (int i = threadIdx.x; i < n; i += RD_THREADS) yc[(long long)i * inner] *= inv;
        }
    }
}

// Softmax gradient, one column per thread: s = (float) Σ dy·y (softmax) or Σ dy (log-softmax) in
// double; dx = y·(dy − s), or dy − exp(y)·s.
__global__ void softmax_backward_thread_f32(const float* y, const float* dy, float* dx, int outer, int n, int inner,
                                            int isLog) {
    long long columns = (long long)outer * inner;
    GRAFT_FOR(col, columns) {
        int o = (int)(col / inner), j = (int)(col % inner);
        long long base = (long long)o * n * inner + j;
        double dot = 0.0;
        for (int i = 0; i < n; i++) {
            long long k = base + (long long)i * inner;
            dot += isLog ? (double)dy[k] : (double)dy[k] * y[k];
        }
        float s = (float)dot;
        for (int i = 0; i < n; i++) {
            long long k = base + (long long)i * inner;
            float yv = y[k], g = dy[k];
            dx[k] = isLog ? g - expf(yv) * s : yv * (g - s);
        }
    }
}

// The same with one block of RD_THREADS per column.
__global__ void softmax_backward_block_f32(const float* y, const float* dy, float* dx, int outer, int n, int inner,
                                           int isLog) {
    __shared__ double sh[RD_THREADS];
    long long columns = (long long)outer * inner;
    for (long long col = blockIdx.x; col < columns; col += gridDim.x) {
        int o = (int)(col / inner), j = (int)(col % inner);
        long long base = (long long)o * n * inner + j;
        double part = 0.0;
        for (int i = threadIdx.x; i < n; i += RD_THREADS) {
            long long k = base + (long long)i * inner;
            part += isLog ? (double)dy[k] : (double)dy[k] * y[k];
        }
        float s = (float)rd_block_sum(part, sh);
        for (int i = threadIdx.x; i < n; i += RD_THREADS) {
            long long k = base + (long long)i * inner;
            float yv = y[k], g = dy[k];
            dx[k] = isLog ? g - expf(yv) * s : yv * (g - s);
        }
    }
}

GRAFT_EXPORT_NOSYNC(sum_thread_f32)
GRAFT_EXPORT(sum_block_f32)
GRAFT_EXPORT_NOSYNC(sum_finish_f32)
GRAFT_EXPORT_NOSYNC(softmax_thread_f32)
GRAFT_EXPORT(softmax_block_f32)
GRAFT_EXPORT_NOSYNC(softmax_backward_thread_f32)
GRAFT_EXPORT(softmax_backward_block_f32)

}  // extern "C"
