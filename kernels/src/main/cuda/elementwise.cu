// Element-wise float32 kernels for the CUDA backend (a later issue loads them with the driver API).
//
// Conventions for every kernel in this folder:
//  - extern "C" so the PTX entry names are the plain C names (cuModuleGetFunction finds them);
//  - flat, contiguous float32 buffers and a 64-bit element count n, so one launch covers tensors
//    larger than 2^31 elements;
//  - a grid-stride loop, so any grid size is correct and the host picks one for occupancy, not size;
//  - each kernel has a CPU reference, the ReferenceBackend op it mirrors (here UnaryOp.RELU); the
//    CUDA backend issue adds the parity test that runs both on the same input.

#include "graft_cuda.h"

extern "C" {

// y[i] = max(x[i], 0). NaN stays NaN, as torch.relu and the reference backend (fmaxf would drop it).
__global__ void relu_forward_f32(const float* __restrict__ x, float* __restrict__ y, long long n) {
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float v = x[i];
        y[i] = v <= 0.0f ? 0.0f : v;
    }
}

// dx[i] = 0 where x[i] <= 0, else dy[i] (the gradient at exactly 0 is 0, as PyTorch and the reference backend).
__global__ void relu_backward_f32(const float* __restrict__ x, const float* __restrict__ dy,
                                  float* __restrict__ dx, long long n) {
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];
    }
}

GRAFT_EXPORT_NOSYNC(relu_forward_f32)
GRAFT_EXPORT_NOSYNC(relu_backward_f32)

}  // extern "C"
