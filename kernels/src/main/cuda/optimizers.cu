// In-place optimizer updates of the CUDA backend (host side: CudaOptimizers), element-wise in float
// with the hyperparameters rounded to float (or derived in double) once on the host, exactly as the
// CPU backend's CpuOptimizers and PyTorch's single-tensor float32 implementations.
//
// Products go through opt_mul (round to nearest, never contracted into an fma with the following
// addition), so each step rounds exactly as the CPU's Java arithmetic and the GPU's result equals the
// CPU's bit for bit.

#include "graft_cuda.h"

#define OPT_MOMENTUM 1
#define OPT_NESTEROV 2
#define OPT_FIRST_STEP 4

GRAFT_DEVICE float opt_mul(float a, float b) {
#ifdef GRAFT_EMU
    return a * b;  // the emulation is compiled without fp contraction (-std=c++17: -ffp-contract=off)
#else
    return __fmul_rn(a, b);
#endif
}

extern "C" {

// PyTorch's SGD step: d = g + wd·p (skipped when wd is 0); with momentum (flags & OPT_MOMENTUM)
// buf = d on the first step, else mom·buf + damp·d, and d = nesterov ? d + mom·buf : buf; p −= lr·d.
// damp is 1 − dampening; buf may be null without momentum.
__global__ void sgd_step_f32(float* p, const float* g, float* buf, long long n, float lr, float mom, float damp,
                             float wd, int flags) {
    bool momentum = (flags & OPT_MOMENTUM) != 0, nesterov = (flags & OPT_NESTEROV) != 0,
         first = (flags & OPT_FIRST_STEP) != 0;
    GRAFT_FOR(i, n) {
        float d = g[i];
        if (wd != 0.0f) d += opt_mul(wd, p[i]);
        if (momentum) {
            float b = first ? d : opt_mul(mom, buf[i]) + opt_mul(damp, d);
            buf[i] = b;
            d = nesterov ? d + opt_mul(mom, b) : b;
        }
        p[i] -= opt_mul(lr, d);
    }
}

// PyTorch's AdamW step (amsgrad off), with the host's scalars: decay = 1 − lr·wd, c1 = 1 − β1,
// c2 = 1 − β2, stepSize = lr / (1 − β1^t), bias2Sqrt = sqrt(1 − β2^t):
// p = p·decay; m = β1·m + c1·g; v = β2·v + c2·g²; p −= stepSize · m / (sqrt(v) / bias2Sqrt + eps).
__global__ void adamw_step_f32(float* p, const float* g, float* m, float* v, long long n, float decay, float b1,
                               float b2, float c1, float c2, float stepSize, float bias2Sqrt, float eps) {
    GRAFT_FOR(i, n) {
        float grad = g[i];
        float pi = opt_mul(p[i], decay);
        float mi = opt_mul(m[i], b1) + opt_mul(grad, c1);
        float vi = opt_mul(v[i], b2) + opt_mul(opt_mul(grad, grad), c2);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bias2Sqrt + eps;
        p[i] = pi - opt_mul(stepSize, mi / denom);
    }
}

GRAFT_EXPORT_NOSYNC(sgd_step_f32)
GRAFT_EXPORT_NOSYNC(adamw_step_f32)

}  // extern "C"
