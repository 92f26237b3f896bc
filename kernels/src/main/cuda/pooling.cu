// 2-D pooling kernels for the CUDA backend (host side: CudaPooling.java), NCHW planes, following
// CpuPooling (PyTorch's CPU kernels) in window clipping, divisors, tie-breaking and the order of
// additions, so results equal the CPU backend's bit for bit.
//
// Every backward kernel is a gather: one thread per input element finds the output windows that
// cover it and adds their contributions in row-major output order, the order in which the CPU
// backend's scatter adds them. No atomics, so overlapping windows (3×3 stride 2) are deterministic.

#include "graft_cuda.h"

// Window geometry (PoolGeometry): planes = n·c.
struct PoolWindowDims {
    int planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, countIncludePad;
};

// Adaptive pooling geometry: planes of h×w pooled to oh×ow.
struct AdaptivePoolDims {
    int planes, h, w, oh, ow;
};

GRAFT_DEVICE int pool_floor_div(int a, int b) {
    int q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Max over the window of output (oy, ox) of plane xp, and (in *best) the index within the plane of
// the first maximal element in row-major window order, or of the last NaN (PyTorch's
// `val > max || isnan(val)`); padding never wins.
GRAFT_DEVICE float pool_window_max(const float* xp, const PoolWindowDims& d, int oy, int ox, int* best) {
    int y0 = oy * d.sh - d.ph, x0 = ox * d.sw - d.pw;
    int iStart = y0 < 0 ? (-y0 + d.dh - 1) / d.dh : 0, iEnd = imin(d.kh, (d.h - y0 + d.dh - 1) / d.dh);
    int jStart = x0 < 0 ? (-x0 + d.dw - 1) / d.dw : 0, jEnd = imin(d.kw, (d.w - x0 + d.dw - 1) / d.dw);
    int b = (y0 + iStart * d.dh) * d.w + x0 + jStart * d.dw;
    float m = -INFINITY;
    for (int i = iStart; i < iEnd; i++) {
        int row = (y0 + i * d.dh) * d.w + x0;
        for (int j = jStart; j < jEnd; j++) {
            int idx = row + j * d.dw;
            float v = xp[idx];
            if (v > m || isnan(v)) {
                m = v;
                b = idx;
            }
        }
    }
    *best = b;
    return m;
}

// The window of average-pooling output (oy, ox), clipped to the input, and its divisor: with
// countIncludePad the window size clipped to the padded input, else the number of real elements.
GRAFT_DEVICE int pool_avg_window(const PoolWindowDims& d, int oy, int ox, int* y0, int* y1, int* x0, int* x1) {
    int a = oy * d.sh - d.ph, c = ox * d.sw - d.pw;
    int b = imin(a + d.kh, d.h + d.ph), e = imin(c + d.kw, d.w + d.pw);
    int poolSize = (b - a) * (e - c);
    *y0 = imax(a, 0);
    *x0 = imax(c, 0);
    *y1 = imin(b, d.h);
    *x1 = imin(e, d.w);
    return d.countIncludePad ? poolSize : (*y1 - *y0) * (*x1 - *x0);
}

// Adaptive window [start, end) of output i: floor(i·in/out) .. ceil((i+1)·in/out).
GRAFT_DEVICE int pool_adaptive_start(int i, int in, int out) {
    return (int)(((long long)i * in) / out);
}

GRAFT_DEVICE int pool_adaptive_end(int i, int in, int out) {
    return (int)(((long long)(i + 1) * in + out - 1) / out);
}

extern "C" {

// y = the maximum of each window (NaN wins, see pool_window_max). One thread per output.
__global__ void maxpool_forward_f32(const float* __restrict__ x, float* __restrict__ y, PoolWindowDims d,
                                    long long total) {
    GRAFT_FOR(o, total) {
        int ohw = d.oh * d.ow;
        int p = (int)(o / ohw), r = (int)(o - (long long)p * ohw);
        int best;
        y[o] = pool_window_max(x + (long long)p * d.h * d.w, d, r / d.ow, r % d.ow, &best);
    }
}

// arg[o] = the index within its plane of output o's first maximal element (the backward's first
// pass; arg is an int buffer shaped like y). One thread per output.
__global__ void maxpool_argmax_f32(const float* __restrict__ x, int* __restrict__ arg, PoolWindowDims d,
                                   long long total) {
    GRAFT_FOR(o, total) {
        int ohw = d.oh * d.ow;
        int p = (int)(o / ohw), r = (int)(o - (long long)p * ohw);
        int best;
        pool_window_max(x + (long long)p * d.h * d.w, d, r / d.ow, r % d.ow, &best);
        arg[o] = best;
    }
}

// dx[e] = Σ dy[o] over the outputs o whose window covers input e and whose argmax is e, in
// row-major output order (0 where none). One thread per input element.
__global__ void maxpool_backward_f32(const int* __restrict__ arg, const float* __restrict__ dy,
                                     float* __restrict__ dx, PoolWindowDims d, long long total) {
    GRAFT_FOR(e, total) {
        int hw = d.h * d.w;
        int p = (int)(e / hw), r = (int)(e - (long long)p * hw);
        int iy = r / d.w, ix = r % d.w;
        const int* ap = arg + (long long)p * d.oh * d.ow;
        const float* gp = dy + (long long)p * d.oh * d.ow;
        float s = 0.0f;
        // Outputs in ascending (row-major) order.
        graft_windows_reading(iy, ix, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.dh, d.dw, d.oh, d.ow, [&](int oy, int ox, int, int) {
            int o = oy * d.ow + ox;
            if (ap[o] == r) s += gp[o];
        });
        dx[e] = s;
    }
}

// y = the window's sum (row-major, float) / its divisor; 0 for a window with no real element.
// One thread per output.
__global__ void avgpool_forward_f32(const float* __restrict__ x, float* __restrict__ y, PoolWindowDims d,
                                    long long total) {
    GRAFT_FOR(o, total) {
        int ohw = d.oh * d.ow;
        int p = (int)(o / ohw), r = (int)(o - (long long)p * ohw);
        int y0, y1, x0, x1;
        int div = pool_avg_window(d, r / d.ow, r % d.ow, &y0, &y1, &x0, &x1);
        const float* xp = x + (long long)p * d.h * d.w;
        float out = 0.0f;
        if (y0 < y1 && x0 < x1) {
            float s = 0.0f;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) s += xp[iy * d.w + ix];
            out = s / (float)div;
        }
        y[o] = out;
    }
}

// dx[e] = Σ dy[o] / divisor(o) over the windows covering e, in row-major output order. One thread
// per input element.
__global__ void avgpool_backward_f32(const float* __restrict__ dy, float* __restrict__ dx, PoolWindowDims d,
                                     long long total) {
    GRAFT_FOR(e, total) {
        int hw = d.h * d.w;
        int p = (int)(e / hw), r = (int)(e - (long long)p * hw);
        int iy = r / d.w, ix = r % d.w;
        // Output oy covers rows [oy·sh − ph, oy·sh − ph + kh) (clipping never excludes a real row).
        int oyLo = imax(0, pool_floor_div(iy + d.ph - d.kh, d.sh) + 1), oyHi = imin(d.oh - 1, pool_floor_div(iy + d.ph, d.sh));
        int oxLo = imax(0, pool_floor_div(ix + d.pw - d.kw, d.sw) + 1), oxHi = imin(d.ow - 1, pool_floor_div(ix + d.pw, d.sw));
        const float* gp = dy + (long long)p * d.oh * d.ow;
        float s = 0.0f;
        for (int oy = oyLo; oy <= oyHi; oy++) {
            for (int ox = oxLo; ox <= oxHi; ox++) {
                int y0, y1, x0, x1;
                int div = pool_avg_window(d, oy, ox, &y0, &y1, &x0, &x1);
                s += gp[oy * d.ow + ox] / (float)div;
            }
        }
        dx[e] = s;
    }
}

// y = the mean of each adaptive window, summed in double as the CPU backend. One thread per output.
__global__ void adaptive_avgpool_forward_f32(const float* __restrict__ x, float* __restrict__ y, AdaptivePoolDims d,
                                             long long total) {
    GRAFT_FOR(o, total) {
        int ohw = d.oh * d.ow;
        int p = (int)(o / ohw), r = (int)(o - (long long)p * ohw);
        int i = r / d.ow, j = r % d.ow;
        int y0 = pool_adaptive_start(i, d.h, d.oh), y1 = pool_adaptive_end(i, d.h, d.oh);
        int x0 = pool_adaptive_start(j, d.w, d.ow), x1 = pool_adaptive_end(j, d.w, d.ow);
        const float* xp = x + (long long)p * d.h * d.w;
        double s = 0.0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += xp[iy * d.w + ix];
        y[o] = (float)(s / (double)((y1 - y0) * (x1 - x0)));
    }
}

// dx[e] = Σ dy[o] / |window(o)| over the adaptive windows covering e, in row-major output order.
// One thread per input element.
__global__ void adaptive_avgpool_backward_f32(const float* __restrict__ dy, float* __restrict__ dx, AdaptivePoolDims d,
                                              long long total) {
    GRAFT_FOR(e, total) {
        int hw = d.h * d.w;
        int p = (int)(e / hw), r = (int)(e - (long long)p * hw);
        int iy = r / d.w, ix = r % d.w;
        // Windows i with start(i) ≤ iy < end(i) lie in [floor(iy·oh/h), ceil((iy+1)·oh/h)).
        int iLo = (int)(((long long)iy * d.oh) / d.h), iHi = imin(d.oh, (int)(((long long)(iy + 1) * d.oh + d.h - 1) / d.h));
        int jLo = (int)(((long long)ix * d.ow) / d.w), jHi = imin(d.ow, (int)(((long long)(ix + 1) * d.ow + d.w - 1) / d.w));
        const float* gp = dy + (long long)p * d.oh * d.ow;
        float s = 0.0f;
        for (int i = iLo; i < iHi; i++) {
            int y0 = pool_adaptive_start(i, d.h, d.oh), y1 = pool_adaptive_end(i, d.h, d.oh);
            if (iy < y0 || iy >= y1) continue;
            for (int j = jLo; j < jHi; j++) {
                int x0 = pool_adaptive_start(j, d.w, d.ow), x1 = pool_adaptive_end(j, d.w, d.ow);
                if (ix < x0 || ix >= x1) continue;
                s += gp[i * d.ow + j] / (float)((y1 - y0) * (x1 - x0));
            }
        }
        dx[e] = s;
    }
}

GRAFT_EXPORT_NOSYNC(maxpool_forward_f32)
GRAFT_EXPORT_NOSYNC(maxpool_argmax_f32)
GRAFT_EXPORT_NOSYNC(maxpool_backward_f32)
GRAFT_EXPORT_NOSYNC(avgpool_forward_f32)
GRAFT_EXPORT_NOSYNC(avgpool_backward_f32)
GRAFT_EXPORT_NOSYNC(adaptive_avgpool_forward_f32)
GRAFT_EXPORT_NOSYNC(adaptive_avgpool_backward_f32)

}  // extern "C"
