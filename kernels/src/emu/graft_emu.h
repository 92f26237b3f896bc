// CPU emulation of the CUDA device code Graft's kernels use, so the kernels (and the Java CUDA
// backend above them) run and are checked on machines without a GPU. Included by graft_cuda.h when
// the sources are compiled with g++ -DGRAFT_EMU (build-emu.sh); never seen by nvcc.
//
// Model: a launch runs its blocks on a few host threads; inside a block every CUDA thread is a fiber
// (ucontext) that runs until it reaches __syncthreads() (or a warp exchange, or an mma), where it
// yields; the block continues when every live fiber has arrived. __shared__ variables are
// thread_local statics: one copy per host thread, which runs one block at a time. Kernels exported
// with GRAFT_EXPORT_NOSYNC run their threads as a plain loop (no fibers); a barrier there is an
// error the launch reports.
//
// What it does not model: timing, memory coalescing, warp divergence within a warp (warp exchanges
// synchronise the whole block), atomics beyond atomicAdd/atomicMax on 32-bit values.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define GRAFT_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(graft_emu::dynamic_shared())

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace graft_emu {

struct ThreadState {
    dim3 tid, bid, bdim, gdim;
};

// The CUDA thread now running on this host thread.
extern thread_local ThreadState* current;

void syncthreads();
void* dynamic_shared();
float shfl_xor(float v, int laneMask);
float warp_sum(float v);
float warp_max(float v);
uint32_t to_tf32(float x);
void mma_tf32_m16n8k8(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
void fail(const char* message);

// Registration of kernels: GRAFT_EXPORT(name) records name, the function and an invoker that unpacks
// cuLaunchKernel-style arguments (void** of pointers to each argument's value).
using Invoker = void (*)(void* fn, void** args);
void register_kernel(const char* name, void* fn, Invoker invoke, bool sync);

template <typename... A, size_t... I>
void invoke_with(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}

template <typename... A>
struct Registrar {
    Registrar(const char* name, void (*f)(A...), bool sync) {
        register_kernel(name, reinterpret_cast<void*>(f), &invoke, sync);
    }
    static void invoke(void* fn, void** args) {
        invoke_with(reinterpret_cast<void (*)(A...)>(fn), args, std::index_sequence_for<A...>{});
    }
};

template <typename... A>
Registrar<A...> make_registrar(const char* name, void (*f)(A...), bool sync) {
    return Registrar<A...>(name, f, sync);
}

inline float atomic_add(float* p, float v) {
    int* bits = reinterpret_cast<int*>(p);
    int expected = __atomic_load_n(bits, __ATOMIC_RELAXED);
    for (;;) {
        float old;
        memcpy(&old, &expected, 4);
        float sum = old + v;
        int desired;
        memcpy(&desired, &sum, 4);
        if (__atomic_compare_exchange_n(bits, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return old;
    }
}

}  // namespace graft_emu

#define threadIdx (graft_emu::current->tid)
#define blockIdx (graft_emu::current->bid)
#define blockDim (graft_emu::current->bdim)
#define gridDim (graft_emu::current->gdim)
#define __syncthreads() graft_emu::syncthreads()

#define GRAFT_EMU_CAT2(a, b) a##b
#define GRAFT_EMU_CAT(a, b) GRAFT_EMU_CAT2(a, b)
#define GRAFT_EXPORT(name) \
    static auto GRAFT_EMU_CAT(graft_emu_reg_, name) = graft_emu::make_registrar(#name, &name, true);
#define GRAFT_EXPORT_NOSYNC(name) \
    static auto GRAFT_EMU_CAT(graft_emu_reg_, name) = graft_emu::make_registrar(#name, &name, false);

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
template <typename T> inline T __ldg(const T* p) { return *p; }
inline float atomicAdd(float* p, float v) { return graft_emu::atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline int atomicMax(int* p, int v) {
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}
