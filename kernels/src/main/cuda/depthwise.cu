// Depthwise 2-D convolution kernels (groups = inC = outC) for the CUDA backend (host side:
// CudaDepthwise.java): x (n, c, h, w), weight (c, 1, kh, kw), y (n, c, oh, ow), any kernel size,
// stride, padding and dilation. Each output plane is one input plane filtered by kh·kw taps, too
// little reuse for a GEMM, so the kernels are direct loops; they are memory-bound and read through
// the caches.
//
// Forward and data gradient are gathers, one thread per element written. The weight gradient is a
// deterministic reduction: blocks of DW_THREADS threads over (channel, group of DW_TAPS taps, chunk
// of the n·oh·ow output positions), each thread accumulating DW_TAPS sums, the block adding its
// threads in a fixed tree; with several chunks the partial sums are added in chunk order by a
// second kernel. No atomics anywhere.

#include "graft_cuda.h"

#define DW_THREADS 256
#define DW_TAPS 8

// Convolution geometry (ConvGeometry with inC = outC = groups = c).
struct DepthwiseConvDims {
    int n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};

extern "C" {

// y[b, ch, oy, ox] = bias[ch] + Σ_{i,j} w[ch, i, j] · x[b, ch, oy·sh − ph + i·dh, ox·sw − pw + j·dw],
// fused multiply-adds in tap order (row-major), taps in the padding skipped; bias may be null.
// One thread per output.
__global__ void depthwise_forward_f32(const float* __restrict__ x, const float* __restrict__ weight,
                                      const float* __restrict__ bias, float* __restrict__ y, DepthwiseConvDims d,
                                      long long total) {
    GRAFT_FOR(o, total) {
        int ohw = d.oh * d.ow;
        int p = (int)(o / ohw), r = (int)(o - (long long)p * ohw);
        int ch = p % d.c, oy = r / d.ow, ox = r - oy * d.ow;
        const float* xp = x + (long long)p * d.h * d.w;
        const float* wp = weight + (long long)ch * d.kh * d.kw;
        float acc = bias == 0 ? 0.0f : bias[ch];
        int y0 = oy * d.sh - d.ph, x0 = ox * d.sw - d.pw;
        for (int i = 0; i < d.kh; i++) {
            int iy = y0 + i * d.dh;
            if (iy < 0 || iy >= d.h) continue;
            for (int j = 0; j < d.kw; j++) {
                int ix = x0 + j * d.dw;
                if (ix < 0 || ix >= d.w) continue;
                acc = fmaf(xp[iy * d.w + ix], wp[i * d.kw + j], acc);
            }
        }
        y[o] = acc;
    }
}

// dx[b, ch, iy, ix] = Σ w[ch, i, j] · dy[b, ch, oy, ox] over the taps with iy = oy·sh − ph + i·dh and
// ix = ox·sw − pw + j·dw for an output (oy, ox) inside dy. One thread per input element.
__global__ void depthwise_backward_data_f32(const float* __restrict__ dy, const float* __restrict__ weight,
                                            float* __restrict__ dx, DepthwiseConvDims d, long long total) {
    GRAFT_FOR(e, total) {
        int hw = d.h * d.w;
        int p = (int)(e / hw), r = (int)(e - (long long)p * hw);
        int ch = p % d.c, iy = r / d.w, ix = r - iy * d.w;
        const float* gp = dy + (long long)p * d.oh * d.ow;
        const float* wp = weight + (long long)ch * d.kh * d.kw;
        float acc = 0.0f;
        // taps descending: the order of the CPU backend's flipped-kernel formulation for stride 1.
        graft_windows_reading(iy, ix, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.dh, d.dw, d.oh, d.ow,
                              [&](int oy, int ox, int i, int j) { acc = fmaf(gp[oy * d.ow + ox], wp[i * d.kw + j], acc); });
        dx[e] = acc;
    }
}

// Weight gradient dW[ch, t] = Σ over images and output positions of dy · x at tap t. Grid
// (c, ⌈kh·kw / DW_TAPS⌉, chunks), DW_THREADS threads; block (ch, g, k) sums taps g·DW_TAPS ..
// g·DW_TAPS + DW_TAPS − 1 over chunk k of the n·oh·ow positions. With one chunk the sums go to
// out = dW; otherwise out is the partial buffer, out[(ch·kh·kw + t)·chunks + k].
__global__ void depthwise_backward_weight_f32(const float* __restrict__ x, const float* __restrict__ dy,
                                              float* __restrict__ out, DepthwiseConvDims d) {
    __shared__ float scratch[32];
    int ch = blockIdx.x, t0 = blockIdx.y * DW_TAPS, k = blockIdx.z, chunks = gridDim.z;
    int kk = d.kh * d.kw, ohw = d.oh * d.ow;
    long long count = (long long)d.n * ohw;
    long long per = (count + chunks - 1) / chunks;
    long long j0 = lmin((long long)k * per, count), j1 = lmin(j0 + per, count);
    // Per tap of the group: its offset from the window's corner (taps past kk never match: rows −∞).
    int offY[DW_TAPS], offX[DW_TAPS];
    float acc[DW_TAPS];
#pragma unroll
    for (int t = 0; t < DW_TAPS; t++) {
        int tap = t0 + t;
        offY[t] = tap < kk ? (tap / d.kw) * d.dh - d.ph : -(1 << 30);
        offX[t] = tap < kk ? (tap % d.kw) * d.dw - d.pw : 0;
        acc[t] = 0.0f;
    }
    for (long long j = j0 + threadIdx.x; j < j1; j += DW_THREADS) {
        int b = (int)((unsigned)j / (unsigned)ohw);  // count < 2^31: tensors have int sizes
        int r = (int)j - b * ohw;
        int oy = r / d.ow, ox = r - oy * d.ow;
        long long plane = (long long)b * d.c + ch;
        float g = dy[plane * ohw + r];
        const float* xp = x + plane * d.h * d.w;
#pragma unroll
        for (int t = 0; t < DW_TAPS; t++) {
            int iy = oy * d.sh + offY[t], ix = ox * d.sw + offX[t];
            if (iy >= 0 && iy < d.h && ix >= 0 && ix < d.w) acc[t] = fmaf(g, xp[iy * d.w + ix], acc[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < DW_TAPS; t++) {
        float s = graft_block_sum(acc[t], scratch);
        int tap = t0 + t;
        if (threadIdx.x == 0 && tap < kk) {
            long long at = (long long)ch * kk + tap;
            if (chunks == 1) out[at] = s;
            else out[at * chunks + k] = s;
        }
    }
}

// dW[e] = Σ_k partial[e·chunks + k] in chunk order (the weight gradient's second pass). A
// grid-stride loop over the c·kh·kw weights.
__global__ void depthwise_weight_finish_f32(const float* __restrict__ partial, float* __restrict__ dWeight,
                                            long long total, int chunks) {
    GRAFT_FOR(e, total) {
        double s = 0.0;
        for (int k = 0; k < chunks; k++) s += partial[e * chunks + k];
        dWeight[e] = (float)s;
    }
}

GRAFT_EXPORT_NOSYNC(depthwise_forward_f32)
GRAFT_EXPORT_NOSYNC(depthwise_backward_data_f32)
GRAFT_EXPORT(depthwise_backward_weight_f32)
GRAFT_EXPORT_NOSYNC(depthwise_weight_finish_f32)

}  // extern "C"
