package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * Host side of the element-wise kernels ({@code elementwise.cu}): strided copies and fills, every
 * {@link UnaryOp} forward and backward, binary ops with broadcasting, and tensor-scalar ops, with
 * the CPU backend's semantics (CpuBackend.copy/fill, CpuElementwise).
 *
 * <p>Strided launches first merge dimensions that are contiguous in every operand (as the CPU's
 * coalescing), so the common cases become one flat loop: same-shape operands or a scalar operand go
 * to {@code binary_flat_f32}, dense copies to a device-to-device memcpy. What is left is passed as a
 * shape/stride table of at most {@link #MAX_RANK} dimensions; more are split into several launches
 * over the leading dimensions.
 */
final class CudaElementwise {
    private CudaElementwise() {}

    /** Dimensions a strided kernel's table holds ({@code EW_MAX_RANK} in elementwise.cu). */
    static final int MAX_RANK = 8;

    // ---------------------------------------------------------------- copy and fill

    /**
     * dst[dstOffset + i·dstStrides] = src[srcOffset + i·srcStrides] for every index i of shape. As on
     * the CPU, writes to one element through destination stride 0 keep the last index's value, and
     * overlapping views of one storage copy as if through a temporary (here: a real one).
     */
    static void copy(CudaBackend b, int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset,
                     int[] dstStrides) {
        for (int d : shape) if (d == 0) return;
        // A destination dimension of stride 0 is written once per index, the last one winning in
        // row-major order: read only that last index.
        int[] sh = shape.clone();
        int so = srcOffset;
        for (int d = 0; d < sh.length; d++) {
            if (dstStrides[d] == 0 && sh[d] > 1) {
                so += (sh[d] - 1) * srcStrides[d];
                sh[d] = 1;
            }
        }
        int[][] co = Shapes.coalesce(sh, srcStrides, dstStrides);
        int[] cs = co[0];
        long srcAddress = b.address(src) + 4L * so, dstAddress = b.address(dst) + 4L * dstOffset;
        if (src == dst && Shapes.overlaps(cs, so, co[1], dstOffset, co[2])) {
            int n = Shapes.numel(cs);
            Storage tmp = b.allocateUninitialized(n);
            try {
                int[] dense = Shapes.contiguousStrides(cs);
                copyStrided(b, cs, srcAddress, co[1], b.address(tmp), dense);
                copyStrided(b, cs, b.address(tmp), dense, dstAddress, co[2]);
            } finally {
                b.release(tmp);  // stream-ordered: reused only by work queued after the copies
            }
            return;
        }
        copyStrided(b, cs, srcAddress, co[1], dstAddress, co[2]);
    }

    /** The copy of merged, non-overlapping views (addresses of their first elements). */
    private static void copyStrided(CudaBackend b, int[] shape, long src, int[] ss, long dst, int[] ds) {
        int rank = shape.length;
        if (rank == 1 && ss[0] == 1 && ds[0] == 1) {
            b.gpu().copyOnDevice(src, dst, 4L * shape[0]);
            return;
        }
        if (rank > MAX_RANK) {
            int[] sh = tail(shape), st = tail(ss), dt = tail(ds);
            for (int i = 0; i < shape[0]; i++) copyStrided(b, sh, src + 4L * i * ss[0], st, dst + 4L * i * ds[0], dt);
            return;
        }
        long n = Shapes.numel(shape);
        b.launch1d("copy_strided_f32", n, KernelArgs.of().ptr(src).ptr(dst).i64(n).ints(dims(shape, ss, ds)));
    }

    /** Sets every element of contiguous dst to (float) value; +0 is a memset. */
    static void fill(CudaBackend b, Tensor dst, double value) {
        int n = dst.numel();
        if (n == 0) return;
        float v = (float) value;
        if (Float.floatToRawIntBits(v) == 0) {
            b.gpu().memsetZero(b.address(dst), 4L * n);
            return;
        }
        b.launch1d("fill_value_f32", n, KernelArgs.of().ptr(b.address(dst)).i64(n).f32(v));
    }

    // ---------------------------------------------------------------- unary

    static void unary(CudaBackend b, UnaryOp op, Tensor x, Tensor y) {
        long n = x.numel();
        b.launch1d("unary_forward_f32", n, KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)).i64(n).i32(code(op)));
    }

    static void unaryBackward(CudaBackend b, UnaryOp op, Tensor x, Tensor dy, Tensor dx) {
        long n = x.numel();
        b.launch1d("unary_backward_f32", n, KernelArgs.of().ptr(b.address(x)).ptr(b.address(dy)).ptr(b.address(dx))
                .i64(n).i32(code(op)));
    }

    /** The kernel's code of op ({@code GraftUnaryOp} in elementwise.cu). */
    private static int code(UnaryOp op) {
        return switch (op) {
            case RELU -> 0;
            case RELU6 -> 1;
            case SILU -> 2;
            case HARDSWISH -> 3;
            case HARDSIGMOID -> 4;
            case SIGMOID -> 5;
            case TANH -> 6;
            case EXP -> 7;
            case LOG -> 8;
            case NEG -> 9;
            case SQRT -> 10;
            case SQUARE -> 11;
            case ABS -> 12;
        };
    }

    // ---------------------------------------------------------------- binary

    /** out = a ⊙ b over shape, out contiguous, a and b addressed through their strides (0 = broadcast). */
    static void binary(CudaBackend b, BinaryOp op, int[] shape, Tensor x, int[] aStrides, Tensor y, int[] bStrides, Tensor out) {
        if (Shapes.numel(shape) == 0) return;
        int[][] co = Shapes.coalesce(shape, aStrides, bStrides, Shapes.contiguousStrides(shape));
        int code = switch (op) {
            case ADD -> 0;
            case SUB -> 1;
            case MUL -> 2;
            case DIV -> 3;
        };
        binaryStrided(b, code, co[0], b.address(x), co[1], b.address(y), co[2], b.address(out));
    }

    /** The binary op over merged dimensions (out dense over shape). */
    private static void binaryStrided(CudaBackend b, int code, int[] shape, long a, int[] as, long bb, int[] bs, long out) {
        int rank = shape.length;
        if (rank == 0 || (rank == 1 && (as[0] == 0 || as[0] == 1) && (bs[0] == 0 || bs[0] == 1))) {
            long n = rank == 0 ? 1 : shape[0];
            b.launch1d("binary_flat_f32", n, KernelArgs.of().ptr(a).i32(rank == 0 ? 0 : as[0]).ptr(bb).i32(rank == 0 ? 0 : bs[0])
                    .ptr(out).i64(n).i32(code));
            return;
        }
        if (rank > MAX_RANK) {
            int[] sh = tail(shape), at = tail(as), bt = tail(bs);
            long rowElements = Shapes.numel(sh);
            for (int i = 0; i < shape[0]; i++)
                binaryStrided(b, code, sh, a + 4L * i * as[0], at, bb + 4L * i * bs[0], bt, out + 4L * i * rowElements);
            return;
        }
        long n = Shapes.numel(shape);
        b.launch1d("binary_strided_f32", n, KernelArgs.of().ptr(a).ptr(bb).ptr(out).i64(n).i32(code).ints(dims(shape, as, bs)));
    }

    // ---------------------------------------------------------------- scalar

    /** y = x ⊙ s; the kernel gets s as float (ADD, MUL, RSUB, RDIV) and as double bits (POW, as the CPU's Math.pow). */
    static void scalar(CudaBackend b, ScalarOp op, Tensor x, double s, Tensor y) {
        int code = switch (op) {
            case ADD -> 0;
            case MUL -> 1;
            case POW -> 2;
            case RSUB -> 3;
            case RDIV -> 4;
        };
        long n = x.numel();
        b.launch1d("scalar_op_f32", n, KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)).i64(n).i32(code)
                .f32((float) s).i64(Double.doubleToRawLongBits(s)));
    }

    // ---------------------------------------------------------------- shape tables


    /** The {@code EwDims} struct: rank, shape[8], a[8], b[8]. */
    private static int[] dims(int[] shape, int[] a, int[] b) {
        int[] v = new int[1 + 3 * MAX_RANK];
        v[0] = shape.length;
        for (int d = 0; d < shape.length; d++) {
            v[1 + d] = shape[d];
            v[1 + MAX_RANK + d] = a[d];
            v[1 + 2 * MAX_RANK + d] = b[d];
        }
        return v;
    }

    private static int[] tail(int[] a) {
        return Arrays.copyOfRange(a, 1, a.length);
    }
}
