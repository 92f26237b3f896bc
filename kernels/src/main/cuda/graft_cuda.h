// Common definitions for Graft's CUDA kernels. Every .cu file in this folder includes it first.
//
// The same sources compile two ways:
//  - by nvcc to PTX (build-ptx.sh), loaded on a GPU through the driver API;
//  - by g++ with -DGRAFT_EMU (build-emu.sh) into libgraft-emu.so, a CPU emulation that runs every
//    thread of a block as a fiber (so __syncthreads, shared memory and warp exchanges behave as on a
//    GPU), used to check the kernels and the CUDA backend against the CPU backend on machines
//    without a GPU. See ../emu/graft_emu.h for what the emulation supports.
//
// Rules for kernels (both builds depend on them):
//  - extern "C" entry points, each named once more in GRAFT_EXPORT(name) (or GRAFT_EXPORT_NOSYNC(name)
//    for kernels that never call __syncthreads or a warp exchange: the emulation then skips fibers);
//  - arguments: pointers, int, long long, float, or a struct of those passed by value;
//  - shared memory: static __shared__ arrays, or GRAFT_DYNAMIC_SHARED(type, name) for the launch's
//    dynamic shared memory;
//  - warp exchanges (graft_shfl_xor, graft_warp_sum) and graft_mma_* only in code that every thread
//    of the block reaches (the emulation exchanges through the whole block);
//  - integer min/max through imin/imax (CUDA's overloaded min/max do not exist on the host).
#pragma once

#ifdef GRAFT_EMU
#include "graft_emu.h"
#else
#include <math.h>
#include <stdint.h>
#define GRAFT_EXPORT(name)
#define GRAFT_EXPORT_NOSYNC(name)
#define GRAFT_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define GRAFT_DEVICE static __device__ __forceinline__

GRAFT_DEVICE int imin(int a, int b) { return a < b ? a : b; }
GRAFT_DEVICE int imax(int a, int b) { return a > b ? a : b; }
GRAFT_DEVICE long long lmin(long long a, long long b) { return a < b ? a : b; }

// Grid-stride loop over [0, n): any grid size is correct, the host picks one for occupancy.
#define GRAFT_FOR(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, i##_stride = (long long)blockDim.x * gridDim.x; \
         i < (n); i += i##_stride)

// For input position (iy, ix) of a sliding window (kernel kh×kw, stride, padding, dilation, output
// oh×ow): calls f(oy, ox, i, j) for every output (oy, ox) whose tap (i, j) reads it, i and j
// descending (so oy and ox ascending). The gather form of a window op's backward pass (pooling,
// depthwise convolution): one thread per input element, no atomics, a fixed order.
template <typename F>
GRAFT_DEVICE void graft_windows_reading(int iy, int ix, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                                        int oh, int ow, F f) {
    for (int i = kh - 1; i >= 0; i--) {
        int ty = iy + ph - i * dh;
        if (ty < 0 || ty % sh != 0) continue;
        int oy = ty / sh;
        if (oy >= oh) continue;
        for (int j = kw - 1; j >= 0; j--) {
            int tx = ix + pw - j * dw;
            if (tx < 0 || tx % sw != 0) continue;
            int ox = tx / sw;
            if (ox >= ow) continue;
            f(oy, ox, i, j);
        }
    }
}

// XOR exchange within a warp of 32 lanes (all lanes of the block must call it, see above).
GRAFT_DEVICE float graft_shfl_xor(float v, int laneMask) {
#ifdef GRAFT_EMU
    return graft_emu::shfl_xor(v, laneMask);
#else
    return __shfl_xor_sync(0xffffffffu, v, laneMask);
#endif
}

// Sum over the 32 lanes of a warp; every lane gets the total. The tree is fixed, so the result does
// not depend on timing.
GRAFT_DEVICE float graft_warp_sum(float v) {
#ifdef GRAFT_EMU
    return graft_emu::warp_sum(v);  // the same butterfly, one exchange instead of five
#else
    for (int m = 16; m > 0; m >>= 1) v += graft_shfl_xor(v, m);
    return v;
#endif
}

GRAFT_DEVICE float graft_warp_max(float v) {
#ifdef GRAFT_EMU
    return graft_emu::warp_max(v);
#else
    for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, graft_shfl_xor(v, m));
    return v;
#endif
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024), returned to every thread. scratch:
// __shared__ float[32] of the caller. Deterministic: a fixed tree per warp, then over the warps.
GRAFT_DEVICE float graft_block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = graft_warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.0f;
    return graft_warp_sum(t);
}

// Maximum over the block, as graft_block_sum (NaN propagates as fmaxf does not: callers that need
// NaN to win check for it themselves).
GRAFT_DEVICE float graft_block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = graft_warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : -INFINITY;
    return graft_warp_max(t);
}

// float -> TF32 (round to nearest, ties away from zero, as cvt.rna.tf32.f32), returned as the
// 32-bit pattern mma expects.
GRAFT_DEVICE uint32_t graft_to_tf32(float x) {
#ifdef GRAFT_EMU
    return graft_emu::to_tf32(x);
#else
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#endif
}

// One warp-wide tensor-core multiply-accumulate, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32:
// d = A (16x8, row-major) * B (8x8, column-major) + c, fragments in PTX's layout. With
// g = lane / 4 and t = lane % 4:
//   a[0] = A[g][t], a[1] = A[g+8][t], a[2] = A[g][t+4], a[3] = A[g+8][t+4]
//   b[0] = B[t][g], b[1] = B[t+4][g]
//   c[0] = C[g][2t], c[1] = C[g][2t+1], c[2] = C[g+8][2t], c[3] = C[g+8][2t+1]  (same for d)
GRAFT_DEVICE void graft_mma_tf32_m16n8k8(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
#ifdef GRAFT_EMU
    graft_emu::mma_tf32_m16n8k8(d, a, b, c);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
          "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#endif
}
