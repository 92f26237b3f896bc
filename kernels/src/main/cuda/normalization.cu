// Batch norm kernels for the CUDA backend (host side: CudaNormalization.java). x is viewed as
// (n, c, hw): channel ch of image b is the contiguous plane starting at (b·c + ch)·hw.
//
// Per-channel sums (the statistics and the backward's Σg, Σg·(x − mean)) are split into `chunks`
// contiguous ranges of the channel's n·hw elements, one block of BN_THREADS threads per (channel,
// chunk): each thread accumulates in double, the block adds its threads in a fixed tree, and the
// chunks' partial sums are added in chunk order by whoever needs the total. Nothing depends on
// timing (no atomics), so results are reproducible; the host picks `chunks` from the shape and the
// GPU's size only.
//
// Element-wise arithmetic mirrors CpuNormalization operation by operation, each step rounded
// (no contraction into FMA), so forward results equal the CPU backend's bit for bit.

#include "graft_cuda.h"

#define BN_THREADS 256

// Rounded float steps; nvcc would otherwise contract a·b + c into one FMA.
GRAFT_DEVICE float bn_mul(float a, float b) {
#ifdef GRAFT_EMU
    return a * b;
#else
    return __fmul_rn(a, b);
#endif
}

GRAFT_DEVICE float bn_add(float a, float b) {
#ifdef GRAFT_EMU
    return a + b;
#else
    return __fadd_rn(a, b);
#endif
}

GRAFT_DEVICE float bn_sub(float a, float b) {
#ifdef GRAFT_EMU
    return a - b;
#else
    return __fsub_rn(a, b);
#endif
}

// Sum over the block (BN_THREADS threads) in a fixed tree; every thread gets the total.
// scratch: __shared__ double[BN_THREADS] of the caller.
GRAFT_DEVICE double bn_block_sum(double v, double* scratch) {
    __syncthreads();  // scratch may still be read by a previous call
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (int k = BN_THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) scratch[threadIdx.x] += scratch[threadIdx.x + k];
        __syncthreads();
    }
    return scratch[0];
}

// The gradient entering batch norm: dz, masked to 0 where the activation's output z is at or
// beyond its clamp (z <= lo or z >= hi; NaN passes), as the CPU backend's backwardClamped.
GRAFT_DEVICE float bn_grad(const float* z, const float* dz, long long i, float lo, float hi) {
    float g = dz[i];
    if (z != 0) {
        float v = z[i];
        if (v <= lo || v >= hi) g = 0.0f;
    }
    return g;
}

// Range [j0, j1) of chunk k of a channel's `count` elements.
GRAFT_DEVICE void bn_chunk(long long count, int chunks, int k, long long* j0, long long* j1) {
    long long per = (count + chunks - 1) / chunks;
    *j0 = lmin((long long)k * per, count);
    *j1 = lmin(*j0 + per, count);
}

// Address of element j (0 ≤ j < n·hw < 2^31: tensors have int sizes) of channel ch; 32-bit
// division, several times cheaper than 64-bit on a GPU.
GRAFT_DEVICE long long bn_index(long long j, int c, int ch, int hw) {
    unsigned b = (unsigned)j / (unsigned)hw;
    return ((long long)b * c + ch) * hw + (j - (long long)b * hw);
}

extern "C" {

// Statistics, one pass of two. Grid (c, chunks), BN_THREADS threads.
//   sums == null: partial[ch·chunks + k] = Σ x over chunk k of channel ch;
//   else: mean = Σ_k sums[ch·chunks + k] / (n·hw) (the first pass's partials in chunk order, in
//         double), partial[ch·chunks + k] = Σ (x − mean)² in double. The CPU backend subtracts the
//         mean rounded to float, which adds (mean − float(mean))² to its variance; this does not.
__global__ void bn_stats_partial_f32(const float* x, const double* sums, double* partial, int n, int c, int hw,
                                     int chunks) {
    __shared__ double scratch[BN_THREADS];
    int ch = blockIdx.x, k = blockIdx.y;
    long long count = (long long)n * hw, j0, j1;
    bn_chunk(count, chunks, k, &j0, &j1);
    double acc = 0.0;
    if (sums == 0) {
        for (long long j = j0 + threadIdx.x; j < j1; j += BN_THREADS) acc += x[bn_index(j, c, ch, hw)];
    } else {
        double s = 0.0;
        for (int q = 0; q < chunks; q++) s += sums[(long long)ch * chunks + q];
        double mu = s / (double)count;
        for (long long j = j0 + threadIdx.x; j < j1; j += BN_THREADS) {
            double d = x[bn_index(j, c, ch, hw)] - mu;
            acc += d * d;
        }
    }
    double total = bn_block_sum(acc, scratch);
    if (threadIdx.x == 0) partial[(long long)ch * chunks + k] = total;
}

// mean[ch] = Σ sums / count, var[ch] = Σ squares / count (biased), partials added in chunk order.
// A grid-stride loop over channels.
__global__ void bn_stats_finish_f32(const double* sums, const double* squares, float* mean, float* var, int c,
                                    int chunks, long long count) {
    GRAFT_FOR(ch, c) {
        double s = 0.0, q = 0.0;
        for (int k = 0; k < chunks; k++) {
            s += sums[ch * chunks + k];
            q += squares[ch * chunks + k];
        }
        mean[ch] = (float)(s / (double)count);
        var[ch] = (float)(q / (double)count);
    }
}

// y = min(max((x − mean)·scale + shift [+ residual], lo), hi) with scale = invStd·weight (weight null:
// 1), shift = bias (null: 0); residual may be null; lo/hi ±∞ for no activation, (0, ∞) for ReLU,
// (0, 6) for ReLU6. NaN passes the clamp (as Java's Math.max/min). y may alias x or residual.
// A grid-stride loop over the n·c·hw elements.
__global__ void bn_forward_f32(const float* x, const float* mean, const float* invStd, const float* weight,
                               const float* bias, const float* residual, float* y, long long total, int c, int hw,
                               float lo, float hi) {
    GRAFT_FOR(i, total) {
        int ch = (int)(((unsigned)i / (unsigned)hw) % (unsigned)c);  // total < 2^31
        float scale = bn_mul(invStd[ch], weight == 0 ? 1.0f : weight[ch]);
        float shift = bias == 0 ? 0.0f : bias[ch];
        float v = bn_add(bn_mul(bn_sub(x[i], mean[ch]), scale), shift);
        if (residual != 0) v = bn_add(v, residual[i]);
        v = v <= lo ? lo : v;
        v = v >= hi ? hi : v;
        y[i] = v;
    }
}

// Backward sums. Grid (c, chunks), BN_THREADS threads. With g = bn_grad(z, dz) (z null: dz):
// partial[ch·chunks + k] = Σ g and partial[(c + ch)·chunks + k] = Σ g·(x − mean) over chunk k.
__global__ void bn_backward_partial_f32(const float* x, const float* z, const float* dz, const float* mean,
                                        double* partial, int n, int c, int hw, int chunks, float lo, float hi) {
    __shared__ double scratch[BN_THREADS];
    int ch = blockIdx.x, k = blockIdx.y;
    long long count = (long long)n * hw, j0, j1;
    bn_chunk(count, chunks, k, &j0, &j1);
    float mu = mean[ch];
    double s = 0.0, d = 0.0;
    for (long long j = j0 + threadIdx.x; j < j1; j += BN_THREADS) {
        long long i = bn_index(j, c, ch, hw);
        float g = bn_grad(z, dz, i, lo, hi);
        s += g;
        d += (double)g * bn_sub(x[i], mu);
    }
    double sumG = bn_block_sum(s, scratch);
    double dot = bn_block_sum(d, scratch);
    if (threadIdx.x == 0) {
        partial[(long long)ch * chunks + k] = sumG;
        partial[((long long)c + ch) * chunks + k] = dot;
    }
}

// Backward results. Grid (c, dxChunks); any block size. The channel's Σg and Σg·(x − mean) are the
// partials (partialChunks of each, in chunk order; partial null: not needed and taken as 0).
// Block (ch, 0) writes dWeight[ch] = Σg·(x − mean)·invStd and dBias[ch] = Σg (each when not null);
// with dx, block (ch, k) writes chunk k of the channel:
//   batchStats: dx = (g − Σg/N − (x − mean)·k) · invStd·w with k = Σg·(x − mean)·invStd²/N;
//   else:       dx = g · invStd·w.
// dx may alias dz.
__global__ void bn_backward_apply_f32(const float* x, const float* z, const float* dz, const float* mean,
                                      const float* invStd, const float* weight, const double* partial, float* dx,
                                      float* dWeight, float* dBias, int n, int c, int hw, int partialChunks,
                                      int batchStats, float lo, float hi) {
    int ch = blockIdx.x;
    long long count = (long long)n * hw;
    double sumG = 0.0, dot = 0.0;
    if (partial != 0) {
        for (int q = 0; q < partialChunks; q++) {
            sumG += partial[(long long)ch * partialChunks + q];
            dot += partial[((long long)c + ch) * partialChunks + q];
        }
    }
    float is = invStd[ch];
    if (blockIdx.y == 0 && threadIdx.x == 0) {
        if (dWeight != 0) dWeight[ch] = (float)(dot * is);
        if (dBias != 0) dBias[ch] = (float)sumG;
    }
    if (dx != 0) {
        float mu = mean[ch];
        float gs = bn_mul(is, weight == 0 ? 1.0f : weight[ch]);
        float k = batchStats ? (float)(dot * is * is / (double)count) : 0.0f;
        float gradMean = batchStats ? (float)(sumG / (double)count) : 0.0f;
        long long j0, j1;
        bn_chunk(count, gridDim.y, blockIdx.y, &j0, &j1);
        for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
            long long i = bn_index(j, c, ch, hw);
            float g = bn_grad(z, dz, i, lo, hi);
            if (batchStats) g = bn_sub(bn_sub(g, gradMean), bn_mul(bn_sub(x[i], mu), k));
            dx[i] = bn_mul(g, gs);
        }
    }
}

// Training mode's per-channel step after the statistics (Backend.batchNormUpdateStats):
// invStd = 1 / sqrt(var + eps); with running statistics (runningMean non-null),
// runningMean = runningMean·keep + mean·momentum and runningVar = runningVar·keep + (var·unbias)·momentum,
// every step rounded as the CPU backend's element-wise kernels that the default runs one by one.
__global__ void bn_update_stats_f32(const float* __restrict__ mean, const float* __restrict__ var, float* __restrict__ invStd,
                                    float* runningMean, float* runningVar, int c, float eps, float keep, float momentum,
                                    float unbias) {
    GRAFT_FOR(ch, c) {
        float v = var[ch];
        invStd[ch] = 1.0f / sqrtf(bn_add(v, eps));
        if (runningMean != 0) {
            runningMean[ch] = bn_add(bn_mul(runningMean[ch], keep), bn_mul(mean[ch], momentum));
            runningVar[ch] = bn_add(bn_mul(runningVar[ch], keep), bn_mul(bn_mul(v, unbias), momentum));
        }
    }
}

GRAFT_EXPORT(bn_stats_partial_f32)
GRAFT_EXPORT_NOSYNC(bn_update_stats_f32)
GRAFT_EXPORT_NOSYNC(bn_stats_finish_f32)
GRAFT_EXPORT_NOSYNC(bn_forward_f32)
GRAFT_EXPORT(bn_backward_partial_f32)
GRAFT_EXPORT_NOSYNC(bn_backward_apply_f32)

}  // extern "C"
