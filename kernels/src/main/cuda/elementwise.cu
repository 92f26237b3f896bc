// Element-wise float32 kernels of the CUDA backend (host side: CudaElementwise): strided copy, fill,
// every UnaryOp forward and backward, binary ops with broadcasting, and tensor-scalar ops.
//
// Conventions:
//  - extern "C" so the PTX entry names are the plain C names (cuModuleGetFunction finds them);
//  - a 64-bit element count n and grid-stride loops, so any grid size is correct and the host picks
//    one for occupancy, not size;
//  - inputs and outputs may be the same buffer (in-place ops), so no pointer is __restrict__: every
//    thread reads element i before it writes element i and touches no other;
//  - the op is chosen once per launch (a switch outside the loop over templated loops), so each loop
//    body is straight-line code;
//  - every formula mirrors the CPU backend (CpuElementwise) operation for operation, including NaN
//    propagation and the gradient chosen at kinks. The CPU evaluates exp/tanh in double and rounds
//    once; here they are float (expf, tanhf: a few ulp), with the gradients written in forms that do
//    not cancel (σ'(x) = σ(x)·σ(−x), tanh'(x) = 1/cosh²(x)).

#include "graft_cuda.h"

// Op codes shared with CudaElementwise (Java maps each enum constant explicitly).
enum GraftUnaryOp {
    U_RELU = 0, U_RELU6 = 1, U_SILU = 2, U_HARDSWISH = 3, U_HARDSIGMOID = 4, U_SIGMOID = 5, U_TANH = 6,
    U_EXP = 7, U_LOG = 8, U_NEG = 9, U_SQRT = 10, U_SQUARE = 11, U_ABS = 12
};
enum GraftBinaryOp { B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3 };
enum GraftScalarOp { S_ADD = 0, S_MUL = 1, S_POW = 2, S_RSUB = 3, S_RDIV = 4 };

#define EW_MAX_RANK 8

// Shape and two stride tables (elements) of a strided launch, passed by value: 25 ints. The host
// merges dimensions first, so rank is usually 1 to 3; it splits launches of more than 8.
struct EwDims {
    int rank;
    int shape[EW_MAX_RANK];
    int a[EW_MAX_RANK];
    int b[EW_MAX_RANK];
};

// Offsets of row-major index i of dims.shape in the two stride tables.
GRAFT_DEVICE void ew_offsets(const EwDims& d, long long i, int& oa, int& ob) {
    unsigned rem = (unsigned)i;  // < 2^31: the host's tensors are int-indexed
    oa = 0;
    ob = 0;
    for (int k = d.rank - 1; k >= 0; k--) {
        unsigned s = (unsigned)d.shape[k];
        int c = (int)(rem % s);
        rem /= s;
        oa += c * d.a[k];
        ob += c * d.b[k];
    }
}

// min(max(v, lo), hi) with Java's Math.max/min semantics: NaN passes, -0 becomes lo = 0.
GRAFT_DEVICE float ew_clamp(float v, float lo, float hi) {
    v = v <= lo ? lo : v;
    return v >= hi ? hi : v;
}

// σ(v) = 1 / (1 + e^-v).
GRAFT_DEVICE float ew_sigmoid(float v) {
    return 1.0f / (1.0f + expf(-v));
}

template <int OP>
GRAFT_DEVICE float ew_unary(float v) {
    switch (OP) {
        case U_RELU: return v <= 0.0f ? 0.0f : v;  // NaN stays NaN (fmaxf would drop it)
        case U_RELU6: return ew_clamp(v, 0.0f, 6.0f);
        case U_SILU: return v / (1.0f + expf(-v));
        case U_HARDSWISH: return v * ew_clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f;
        case U_HARDSIGMOID: return ew_clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f;
        case U_SIGMOID: return ew_sigmoid(v);
        case U_TANH: return tanhf(v);
        case U_EXP: return expf(v);
        case U_LOG: return logf(v);
        case U_NEG: return -v;
        case U_SQRT: return sqrtf(v);
        case U_SQUARE: return v * v;
        default: return fabsf(v);  // U_ABS
    }
}

// dy · f'(v), with the CPU backend's conventions: ReLU/ReLU6 pass dy strictly inside (0, ∞) / (0, 6)
// and where v is NaN; hardsigmoid passes dy/6 strictly inside (−3, 3); hardswish uses v/3 + 1/2 on
// the closed interval [−3, 3]; |v|' is sign(v), 0 at ±0.
template <int OP>
GRAFT_DEVICE float ew_unary_backward(float v, float g) {
    switch (OP) {
        case U_RELU: return v <= 0.0f || v >= INFINITY ? 0.0f : g;
        case U_RELU6: return v <= 0.0f || v >= 6.0f ? 0.0f : g;
        case U_HARDSIGMOID: return v > -3.0f && v < 3.0f ? g / 6.0f : 0.0f;
        case U_HARDSWISH: return v < -3.0f ? 0.0f : v <= 3.0f ? g * (v / 3.0f + 0.5f) : g;
        case U_SIGMOID: return g * ew_sigmoid(v) * ew_sigmoid(-v);
        case U_SILU: {
            float s = ew_sigmoid(v), t = ew_sigmoid(-v);  // t = 1 − s without the cancellation
            return g * s * (1.0f + v * t);
        }
        case U_TANH: {
            float c = coshf(v);  // 1 − tanh² = 1/cosh², 0 once cosh² overflows
            return g / (c * c);
        }
        case U_EXP: return g * expf(v);
        case U_LOG: return g / v;
        case U_NEG: return -g;
        case U_SQRT: return g / (2.0f * sqrtf(v));
        case U_SQUARE: return 2.0f * v * g;
        default: return g * (v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v);  // U_ABS: Math.signum keeps ±0, NaN
    }
}

template <int OP>
GRAFT_DEVICE void ew_unary_loop(const float* x, float* y, long long n) {
    GRAFT_FOR(i, n) y[i] = ew_unary<OP>(x[i]);
}

template <int OP>
GRAFT_DEVICE void ew_unary_backward_loop(const float* x, const float* dy, float* dx, long long n) {
    GRAFT_FOR(i, n) dx[i] = ew_unary_backward<OP>(x[i], dy[i]);
}

template <int OP>
GRAFT_DEVICE float ew_binary(float a, float b) {
    switch (OP) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        default: return a / b;  // B_DIV
    }
}

// out[i] = a[i·as] ⊙ b[i·bs] with as, bs ∈ {0, 1}: same-shape operands, or one of them a scalar.
template <int OP>
GRAFT_DEVICE void ew_binary_flat_loop(const float* a, int as, const float* b, int bs, float* out, long long n) {
    if (as == 1 && bs == 1) {
        GRAFT_FOR(i, n) out[i] = ew_binary<OP>(a[i], b[i]);
    } else if (as == 1) {
        float bv = b[0];
        GRAFT_FOR(i, n) out[i] = ew_binary<OP>(a[i], bv);
    } else if (bs == 1) {
        float av = a[0];
        GRAFT_FOR(i, n) out[i] = ew_binary<OP>(av, b[i]);
    } else {
        GRAFT_FOR(i, n) out[i] = ew_binary<OP>(a[0], b[0]);
    }
}

template <int OP>
GRAFT_DEVICE void ew_binary_strided_loop(const float* a, const float* b, float* out, long long n, const EwDims& d) {
    GRAFT_FOR(i, n) {
        int oa, ob;
        ew_offsets(d, i, oa, ob);
        out[i] = ew_binary<OP>(a[oa], b[ob]);
    }
}

GRAFT_DEVICE double ew_bits_to_double(long long bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

// (float) Math.pow(x, s) in double, as the CPU. C's pow differs from Java's in two places: Java
// gives NaN for pow(x, NaN) even at x = 1, and for pow(±1, ±∞).
GRAFT_DEVICE float ew_java_pow(float x, double s) {
    if (s != s || (isinf(s) && fabsf(x) == 1.0f)) return NAN;
    return (float)pow((double)x, s);
}

template <int OP>
GRAFT_DEVICE void ew_scalar_loop(const float* x, float* y, long long n, float f, double s) {
    if constexpr (OP == S_POW) {
        if (s == 2.0) {
            GRAFT_FOR(i, n) { float v = x[i]; y[i] = v * v; }  // the CPU's exact square
        } else if (s == 1.0) {
            GRAFT_FOR(i, n) y[i] = x[i];
        } else {
            GRAFT_FOR(i, n) y[i] = ew_java_pow(x[i], s);
        }
    } else {
        GRAFT_FOR(i, n) {
            float v = x[i];
            switch (OP) {
                case S_ADD: y[i] = v + f; break;
                case S_MUL: y[i] = v * f; break;
                case S_RSUB: y[i] = f - v; break;
                default: y[i] = f / v; break;  // S_RDIV
            }
        }
    }
}

extern "C" {

// dst[i] = value for i < n.
__global__ void fill_value_f32(float* dst, long long n, float value) {
    GRAFT_FOR(i, n) dst[i] = value;
}

// For every row-major index i < n of d.shape: dst[i·d.b] = src[i·d.a]. The host guarantees that
// distinct indices write distinct elements (dimensions with destination stride 0 are pinned to
// their last index first) and that src and dst do not overlap (it copies through a temporary).
__global__ void copy_strided_f32(const float* src, float* dst, long long n, EwDims d) {
    GRAFT_FOR(i, n) {
        int os, od;
        ew_offsets(d, i, os, od);
        dst[od] = src[os];
    }
}

// y = f(x) for UnaryOp op (codes above).
__global__ void unary_forward_f32(const float* x, float* y, long long n, int op) {
    switch (op) {
        case U_RELU: ew_unary_loop<U_RELU>(x, y, n); break;
        case U_RELU6: ew_unary_loop<U_RELU6>(x, y, n); break;
        case U_SILU: ew_unary_loop<U_SILU>(x, y, n); break;
        case U_HARDSWISH: ew_unary_loop<U_HARDSWISH>(x, y, n); break;
        case U_HARDSIGMOID: ew_unary_loop<U_HARDSIGMOID>(x, y, n); break;
        case U_SIGMOID: ew_unary_loop<U_SIGMOID>(x, y, n); break;
        case U_TANH: ew_unary_loop<U_TANH>(x, y, n); break;
        case U_EXP: ew_unary_loop<U_EXP>(x, y, n); break;
        case U_LOG: ew_unary_loop<U_LOG>(x, y, n); break;
        case U_NEG: ew_unary_loop<U_NEG>(x, y, n); break;
        case U_SQRT: ew_unary_loop<U_SQRT>(x, y, n); break;
        case U_SQUARE: ew_unary_loop<U_SQUARE>(x, y, n); break;
        case U_ABS: ew_unary_loop<U_ABS>(x, y, n); break;
    }
}

// dx = dy · f'(x) for UnaryOp op.
__global__ void unary_backward_f32(const float* x, const float* dy, float* dx, long long n, int op) {
    switch (op) {
        case U_RELU: ew_unary_backward_loop<U_RELU>(x, dy, dx, n); break;
        case U_RELU6: ew_unary_backward_loop<U_RELU6>(x, dy, dx, n); break;
        case U_SILU: ew_unary_backward_loop<U_SILU>(x, dy, dx, n); break;
        case U_HARDSWISH: ew_unary_backward_loop<U_HARDSWISH>(x, dy, dx, n); break;
        case U_HARDSIGMOID: ew_unary_backward_loop<U_HARDSIGMOID>(x, dy, dx, n); break;
        case U_SIGMOID: ew_unary_backward_loop<U_SIGMOID>(x, dy, dx, n); break;
        case U_TANH: ew_unary_backward_loop<U_TANH>(x, dy, dx, n); break;
        case U_EXP: ew_unary_backward_loop<U_EXP>(x, dy, dx, n); break;
        case U_LOG: ew_unary_backward_loop<U_LOG>(x, dy, dx, n); break;
        case U_NEG: ew_unary_backward_loop<U_NEG>(x, dy, dx, n); break;
        case U_SQRT: ew_unary_backward_loop<U_SQRT>(x, dy, dx, n); break;
        case U_SQUARE: ew_unary_backward_loop<U_SQUARE>(x, dy, dx, n); break;
        case U_ABS: ew_unary_backward_loop<U_ABS>(x, dy, dx, n); break;
    }
}

// out[i] = a[i·as] ⊙ b[i·bs], as and bs 0 or 1 (the fast path: same shapes, or a scalar operand).
__global__ void binary_flat_f32(const float* a, int as, const float* b, int bs, float* out, long long n, int op) {
    switch (op) {
        case B_ADD: ew_binary_flat_loop<B_ADD>(a, as, b, bs, out, n); break;
        case B_SUB: ew_binary_flat_loop<B_SUB>(a, as, b, bs, out, n); break;
        case B_MUL: ew_binary_flat_loop<B_MUL>(a, as, b, bs, out, n); break;
        case B_DIV: ew_binary_flat_loop<B_DIV>(a, as, b, bs, out, n); break;
    }
}

// out[i] = a[i·d.a] ⊙ b[i·d.b] over d.shape (out contiguous), strides 0 on broadcast dimensions.
__global__ void binary_strided_f32(const float* a, const float* b, float* out, long long n, int op, EwDims d) {
    switch (op) {
        case B_ADD: ew_binary_strided_loop<B_ADD>(a, b, out, n, d); break;
        case B_SUB: ew_binary_strided_loop<B_SUB>(a, b, out, n, d); break;
        case B_MUL: ew_binary_strided_loop<B_MUL>(a, b, out, n, d); break;
        case B_DIV: ew_binary_strided_loop<B_DIV>(a, b, out, n, d); break;
    }
}

// y = x ⊙ s: f is s rounded to float (ADD, MUL, RSUB, RDIV, as PyTorch casts the scalar to the
// tensor's type); POW uses s itself, passed as the bits of a double.
__global__ void scalar_op_f32(const float* x, float* y, long long n, int op, float f, long long sBits) {
    double s = ew_bits_to_double(sBits);
    switch (op) {
        case S_ADD: ew_scalar_loop<S_ADD>(x, y, n, f, s); break;
        case S_MUL: ew_scalar_loop<S_MUL>(x, y, n, f, s); break;
        case S_POW: ew_scalar_loop<S_POW>(x, y, n, f, s); break;
        case S_RSUB: ew_scalar_loop<S_RSUB>(x, y, n, f, s); break;
        case S_RDIV: ew_scalar_loop<S_RDIV>(x, y, n, f, s); break;
    }
}

GRAFT_EXPORT_NOSYNC(fill_value_f32)
GRAFT_EXPORT_NOSYNC(copy_strided_f32)
GRAFT_EXPORT_NOSYNC(unary_forward_f32)
GRAFT_EXPORT_NOSYNC(unary_backward_f32)
GRAFT_EXPORT_NOSYNC(binary_flat_f32)
GRAFT_EXPORT_NOSYNC(binary_strided_f32)
GRAFT_EXPORT_NOSYNC(scalar_op_f32)

}  // extern "C"
