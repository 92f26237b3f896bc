// 2-D convolutions (NCHW input, OIHW weight, groups, stride, padding, dilation) as implicit GEMMs
// for the CUDA backend (CudaConvolution), on the main loops of graft_gemm.h. No column matrix is
// ever stored: the loaders below compute each im2col element's address from the GEMM indices.
// Per group gi (blockIdx.z), with cin = inC / groups, cout = outC / groups, P = oh * ow, HW = h * w:
//
//   forward          y = W_g (cout x cin*kh*kw) * col(x) (cin*kh*kw x n*P), bias fused:
//                    A(i, k) = weight row, B(k, j) = x[img, c, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]
//   backward data    dx = W_g^T * dy, gathered the col2im way (each dx element sums the (oc, ki, kj)
//                    that touch it, so no atomics): M = cin, N = n*HW, K = cout*kh*kw,
//                    A(c, (oc, ki, kj)) = w[oc, c, ki, kj],
//                    B((oc, ki, kj), (img, iy, ix)) = dy[img, oc, (iy + ph - ki*dh) / sh, (ix + pw - kj*dw) / sw]
//                    where that division is exact and in range, else 0
//   backward weight  dW_g = dy_g (cout x n*P) * col(x)^T (n*P x cin*kh*kw), the sum over the batch
//                    being the GEMM's k; split-K partials (ws) are added in order by
//                    gemm_splitk_reduce_f32, so the result is deterministic.
//
// Each pass has four variants as gemm.cu (simt128, simt64: exact FP32; tf32_128, tf32_64: tensor
// cores), e.g. conv_fwd_tf32_128_f32. ConvGemmDims is ConvGeometry's 16 ints in its record order.

#include "graft_gemm.h"

struct ConvGemmDims {
    int n, inC, h, w, outC, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow;
};

namespace {

using graft_gemm::Dense;

// forward B: column j = (img, oy, ox) of the implicit im2col matrix, row k = (c, ki, kj).
struct Im2col {
    const float* x;
    ConvGemmDims d;
    struct Col {
        const float* p;  // the image's first channel of the group; null past the last column
        int iy0, ix0;
    };
    GRAFT_MEMBER Col col(int gi, int j) const {
        Col c;
        int p = d.oh * d.ow;
        if (j >= d.n * p) {
            c.p = nullptr, c.iy0 = 0, c.ix0 = 0;
            return c;
        }
        int img = j / p, pos = j - img * p, oy = pos / d.ow, ox = pos - oy * d.ow;
        c.p = x + ((long long)img * d.inC + (long long)gi * (d.inC / d.groups)) * d.h * d.w;
        c.iy0 = oy * d.sh - d.ph;
        c.ix0 = ox * d.sw - d.pw;
        return c;
    }
    GRAFT_MEMBER float load(const Col& c, int k) const {
        if (!c.p) return 0.0f;
        int taps = d.kh * d.kw, ch = k / taps, r = k - ch * taps, ki = r / d.kw, kj = r - ki * d.kw;
        int iy = c.iy0 + ki * d.dh, ix = c.ix0 + kj * d.dw;
        return (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w
                   ? c.p[(long long)ch * d.h * d.w + iy * d.w + ix] : 0.0f;
    }
};

// forward epilogue: y[img, gi*cout + i, pos] = v + bias.
struct ConvOut {
    float* y;
    const float* bias;
    ConvGemmDims d;
    struct Col {
        float* p;
    };
    GRAFT_MEMBER Col col(int gi, int, int j) const {
        int p = d.oh * d.ow, img = j / p, pos = j - img * p;
        Col c;
        c.p = y + ((long long)img * d.outC + (long long)gi * (d.outC / d.groups)) * p + pos;
        return c;
    }
    GRAFT_MEMBER void store(const Col& c, int gi, int i, float v) const {
        int oc = gi * (d.outC / d.groups) + i;
        c.p[(long long)i * d.oh * d.ow] = bias ? v + bias[oc] : v;
    }
};

// The epilogue interface has no group argument in store(): bind it per block.
template <class E>
struct Bound {
    E e;
    int gi;
    using Col = typename E::Col;
    GRAFT_MEMBER Col col(int batch, int split, int j) const { return e.col(batch, split, j); }
    GRAFT_MEMBER void store(const Col& c, int i, float v) const { e.store(c, gi, i, v); }
};

// backward data A: row c of the group, column q = (oc, ki, kj): w[gi*cout + oc, c, ki, kj].
struct WeightT {
    const float* w;
    ConvGemmDims d;
    struct Col {
        const float* p;
    };
    GRAFT_MEMBER Col col(int gi, int c) const {
        int cin = d.inC / d.groups, taps = d.kh * d.kw;
        Col r;
        r.p = c < cin ? w + ((long long)gi * (d.outC / d.groups) * cin + c) * taps : nullptr;
        return r;
    }
    GRAFT_MEMBER float load(const Col& c, int q) const {
        if (!c.p) return 0.0f;
        int taps = d.kh * d.kw, oc = q / taps, kk = q - oc * taps;
        return c.p[(long long)oc * (d.inC / d.groups) * taps + kk];
    }
};

// backward data B: column j = (img, iy, ix) of dx, row q = (oc, ki, kj): the dy element whose
// forward tap reads (iy, ix), or 0.
struct Col2im {
    const float* dy;
    ConvGemmDims d;
    struct Col {
        const float* p;  // dy of the image's first output channel of the group
        int ty, tx;      // iy + ph, ix + pw
    };
    GRAFT_MEMBER Col col(int gi, int j) const {
        Col c;
        int hw = d.h * d.w;
        if (j >= d.n * hw) {
            c.p = nullptr, c.ty = 0, c.tx = 0;
            return c;
        }
        int img = j / hw, pix = j - img * hw, iy = pix / d.w, ix = pix - iy * d.w;
        c.p = dy + ((long long)img * d.outC + (long long)gi * (d.outC / d.groups)) * d.oh * d.ow;
        c.ty = iy + d.ph;
        c.tx = ix + d.pw;
        return c;
    }
    GRAFT_MEMBER float load(const Col& c, int q) const {
        if (!c.p) return 0.0f;
        int taps = d.kh * d.kw, oc = q / taps, r = q - oc * taps, ki = r / d.kw, kj = r - ki * d.kw;
        int ny = c.ty - ki * d.dh, nx = c.tx - kj * d.dw;
        if (ny < 0 || nx < 0) return 0.0f;
        int oy = ny / d.sh, ox = nx / d.sw;
        if (oy * d.sh != ny || ox * d.sw != nx || oy >= d.oh || ox >= d.ow) return 0.0f;
        return c.p[(long long)oc * d.oh * d.ow + oy * d.ow + ox];
    }
};

// backward data epilogue: dx[img, gi*cin + c, pix] = v.
struct DataOut {
    float* dx;
    ConvGemmDims d;
    struct Col {
        float* p;
    };
    GRAFT_MEMBER Col col(int gi, int, int j) const {
        int hw = d.h * d.w, img = j / hw, pix = j - img * hw;
        Col c;
        c.p = dx + ((long long)img * d.inC + (long long)gi * (d.inC / d.groups)) * hw + pix;
        return c;
    }
    GRAFT_MEMBER void store(const Col& c, int, int i, float v) const { c.p[(long long)i * d.h * d.w] = v; }
};

// backward weight A: row oc of the group, column q = (img, pos): dy[img, gi*cout + oc, pos].
struct DyRows {
    const float* dy;
    ConvGemmDims d;
    struct Col {
        const float* p;
    };
    GRAFT_MEMBER Col col(int gi, int oc) const {
        int cout = d.outC / d.groups;
        Col c;
        c.p = oc < cout ? dy + ((long long)gi * cout + oc) * d.oh * d.ow : nullptr;
        return c;
    }
    GRAFT_MEMBER float load(const Col& c, int q) const {
        if (!c.p) return 0.0f;
        int p = d.oh * d.ow, img = q / p, pos = q - img * p;
        return c.p[(long long)img * d.outC * p + pos];
    }
};

// backward weight B: row q = (img, oy, ox), column j = (c, ki, kj): the im2col matrix transposed.
struct Im2colT {
    const float* x;
    ConvGemmDims d;
    struct Col {
        const float* p;  // x of channel gi*cin + c in image 0
        int offY, offX;  // ki*dh - ph, kj*dw - pw
    };
    GRAFT_MEMBER Col col(int gi, int j) const {
        int cin = d.inC / d.groups, taps = d.kh * d.kw;
        Col c;
        if (j >= cin * taps) {
            c.p = nullptr, c.offY = 0, c.offX = 0;
            return c;
        }
        int ch = j / taps, r = j - ch * taps, ki = r / d.kw, kj = r - ki * d.kw;
        c.p = x + ((long long)gi * cin + ch) * d.h * d.w;
        c.offY = ki * d.dh - d.ph;
        c.offX = kj * d.dw - d.pw;
        return c;
    }
    GRAFT_MEMBER float load(const Col& c, int q) const {
        if (!c.p) return 0.0f;
        int p = d.oh * d.ow, img = q / p, pos = q - img * p, oy = pos / d.ow, ox = pos - oy * d.ow;
        int iy = oy * d.sh + c.offY, ix = ox * d.sw + c.offX;
        return (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w
                   ? c.p[(long long)img * d.inC * d.h * d.w + iy * d.w + ix] : 0.0f;
    }
};

// backward weight epilogue: dW[gi*cout + oc, j] = v, or split s's partial into ws (groups, splits, cout, K).
struct WeightOut {
    float* dw;
    float* ws;
    ConvGemmDims d;
    int splits;
    struct Col {
        float* p;
    };
    GRAFT_MEMBER Col col(int gi, int split, int j) const {
        long long cout = d.outC / d.groups, kk = (long long)(d.inC / d.groups) * d.kh * d.kw;
        Col c;
        c.p = ws ? ws + ((long long)gi * splits + split) * cout * kk + j : dw + gi * cout * kk + j;
        return c;
    }
    GRAFT_MEMBER void store(const Col& c, int, int i, float v) const {
        c.p[(long long)i * (d.inC / d.groups) * d.kh * d.kw] = v;
    }
};

// Runs main loop LOOP (0 simt128, 1 simt64, 2 tf32_128, 3 tf32_64) with the given mappings.
template <int LOOP, bool AK, bool BK, class LA, class LB, class EP>
GRAFT_DEVICE void run(const LA& la, const LB& lb, const EP& ep, int m, int n, int k, int splits) {
    if constexpr (LOOP == 0) graft_gemm::simt_gemm<8, 8, AK, BK>(la, lb, ep, m, n, k, splits);
    else if constexpr (LOOP == 1) graft_gemm::simt_gemm<4, 4, AK, BK>(la, lb, ep, m, n, k, splits);
    else if constexpr (LOOP == 2) graft_gemm::tf32_gemm<128, 128, 64, 32, AK, BK>(la, lb, ep, m, n, k, splits);
    else graft_gemm::tf32_gemm<64, 64, 32, 32, AK, BK>(la, lb, ep, m, n, k, splits);
}

template <int LOOP>
GRAFT_DEVICE void forward(const float* x, const float* w, const float* bias, float* y, const ConvGemmDims& d) {
    int gi = blockIdx.z, cin = d.inC / d.groups, cout = d.outC / d.groups, kk = cin * d.kh * d.kw;
    Dense a;
    a.base = w;
    a.batchStride = (long long)cout * kk;
    a.mnStride = kk;
    a.kStride = 1;
    a.extent = cout;
    Im2col b{x, d};
    Bound<ConvOut> e{ConvOut{y, bias, d}, gi};
    run<LOOP, true, false>(a, b, e, cout, d.n * d.oh * d.ow, kk, 1);
}

template <int LOOP>
GRAFT_DEVICE void backward_data(const float* dy, const float* w, float* dx, const ConvGemmDims& d) {
    int gi = blockIdx.z, cin = d.inC / d.groups, cout = d.outC / d.groups;
    WeightT a{w, d};
    Col2im b{dy, d};
    Bound<DataOut> e{DataOut{dx, d}, gi};
    run<LOOP, true, false>(a, b, e, cin, d.n * d.h * d.w, cout * d.kh * d.kw, 1);
}

template <int LOOP>
GRAFT_DEVICE void backward_weight(const float* x, const float* dy, float* dw, float* ws, const ConvGemmDims& d, int splits) {
    int gi = blockIdx.z / splits, cin = d.inC / d.groups, cout = d.outC / d.groups;
    DyRows a{dy, d};
    Im2colT b{x, d};
    Bound<WeightOut> e{WeightOut{dw, splits > 1 ? ws : nullptr, d, splits}, gi};
    run<LOOP, true, false>(a, b, e, cout, cin * d.kh * d.kw, d.n * d.oh * d.ow, splits);
}

}  // namespace

#define GRAFT_CONV_KERNELS(SUFFIX, THREADS, LOOP)                                                                   \
    __global__ void __launch_bounds__(THREADS)                                                                      \
        conv_fwd_##SUFFIX##_f32(const float* x, const float* w, const float* bias, float* y, ConvGemmDims d) {         \
        forward<LOOP>(x, w, bias, y, d);                                                                            \
    }                                                                                                               \
    __global__ void __launch_bounds__(THREADS)                                                                      \
        conv_bwd_data_##SUFFIX##_f32(const float* dy, const float* w, float* dx, ConvGemmDims d) {                     \
        backward_data<LOOP>(dy, w, dx, d);                                                                          \
    }                                                                                                               \
    __global__ void __launch_bounds__(THREADS)                                                                      \
        conv_bwd_weight_##SUFFIX##_f32(const float* x, const float* dy, float* dw, float* ws, ConvGemmDims d, int splits) { \
        backward_weight<LOOP>(x, dy, dw, ws, d, splits);                                                            \
    }

extern "C" {

GRAFT_CONV_KERNELS(simt128, 256, 0)
GRAFT_CONV_KERNELS(simt64, 256, 1)
GRAFT_CONV_KERNELS(tf32_128, 256, 2)
GRAFT_CONV_KERNELS(tf32_64, 128, 3)

GRAFT_EXPORT(conv_fwd_simt128_f32)
GRAFT_EXPORT(conv_bwd_data_simt128_f32)
GRAFT_EXPORT(conv_bwd_weight_simt128_f32)
GRAFT_EXPORT(conv_fwd_simt64_f32)
GRAFT_EXPORT(conv_bwd_data_simt64_f32)
GRAFT_EXPORT(conv_bwd_weight_simt64_f32)
GRAFT_EXPORT(conv_fwd_tf32_128_f32)
GRAFT_EXPORT(conv_bwd_data_tf32_128_f32)
GRAFT_EXPORT(conv_bwd_weight_tf32_128_f32)
GRAFT_EXPORT(conv_fwd_tf32_64_f32)
GRAFT_EXPORT(conv_bwd_data_tf32_64_f32)
GRAFT_EXPORT(conv_bwd_weight_tf32_64_f32)

}  // extern "C"
