package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.graft.backend.Backend;
import dev.graft.backend.BinaryOp;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's copies, fills, unary, binary and scalar ops against the CPU backend: every enum
 * value, broadcasting patterns, odd sizes, empty tensors, views with offsets, overlapping copies and
 * the CPU's NaN and infinity behaviour.
 */
class CudaElementwiseTest {
    private final Random rng = new Random(11);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    /** Values where the ops have kinks, overflow, NaN or signed zeros. */
    private static final float[] SPECIALS = {
        Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1e-9f, -1e-9f, 1e-30f, -1e-30f,
        3f, -3f, 2.9f, -2.9f, 3.5f, -3.5f, 6f, -6f, 5.99f, 6.01f, 0.5f, -0.5f, 1f, -1f, 20f, -20f,
        88f, -88f, 89f, -89f, 100f, -100f, 1e30f, -1e30f, -1.2785f,
    };

    /** Random normal values times {@code scale} with the specials in front: an odd count. */
    private float[] inputs(int randomCount, float scale) {
        float[] v = new float[SPECIALS.length + randomCount];
        System.arraycopy(SPECIALS, 0, v, 0, SPECIALS.length);
        for (int i = SPECIALS.length; i < v.length; i++) v[i] = (float) rng.nextGaussian() * scale;
        return v;
    }

    private float[] randn(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextGaussian();
        return v;
    }

    /**
     * Element-wise |actual − expected| ≤ tol · max(1, |expected|); NaN must match NaN and infinities
     * must be equal. Names the first difference with its input.
     */
    static void assertElementsClose(String what, float[] actual, float[] expected, float[] input, double tol) {
        assertThat(actual.length).as(what + ": element count").isEqualTo(expected.length);
        for (int i = 0; i < actual.length; i++) {
            float a = actual[i], e = expected[i];
            boolean ok = Float.isNaN(e) ? Float.isNaN(a)
                    : Float.isInfinite(e) ? a == e
                    : Math.abs((double) a - e) <= tol * Math.max(1, Math.abs(e));
            if (!ok)
                fail(what + ": element " + i + (input == null ? "" : " (input " + input[i] + ")") + " is " + a + ", expected " + e);
        }
    }

    // ---------------------------------------------------------------- unary

    /** Ops whose kernels compute exactly the CPU's float expression (IEEE +, −, ·, /, sqrt). */
    private static final Set<UnaryOp> EXACT_FORWARD = EnumSet.of(UnaryOp.RELU, UnaryOp.RELU6, UnaryOp.HARDSWISH,
            UnaryOp.HARDSIGMOID, UnaryOp.NEG, UnaryOp.SQRT, UnaryOp.SQUARE, UnaryOp.ABS);
    private static final Set<UnaryOp> EXACT_BACKWARD = EnumSet.of(UnaryOp.RELU, UnaryOp.RELU6, UnaryOp.HARDSWISH,
            UnaryOp.HARDSIGMOID, UnaryOp.NEG, UnaryOp.SQRT, UnaryOp.SQUARE, UnaryOp.ABS, UnaryOp.LOG);

    @ParameterizedTest
    @MethodSource("backends")
    void everyUnaryOpForwardAndBackwardMatchesTheCpu(CudaBackend b) {
        float[] x = inputs(2009, 4f);
        float[] dy = randn(x.length);
        dy[7] = Float.NaN;
        Tensor xc = Tensor.of(x, x.length), dyc = Tensor.of(dy, dy.length);
        Tensor xg = xc.to(b), dyg = dyc.to(b);
        for (UnaryOp op : UnaryOp.values()) {
            Tensor expected = Tensor.zeros(CPU, x.length), actual = Tensor.zeros(b, x.length);
            CPU.unary(op, xc, expected);
            b.unary(op, xg, actual);
            assertElementsClose(op + " forward", actual.toFloatArray(), expected.toFloatArray(), x,
                    EXACT_FORWARD.contains(op) ? 0 : 1e-5);

            Tensor dExpected = Tensor.zeros(CPU, x.length), dActual = Tensor.zeros(b, x.length);
            CPU.unaryBackward(op, xc, dyc, dExpected);
            b.unaryBackward(op, xg, dyg, dActual);
            assertElementsClose(op + " backward", dActual.toFloatArray(), dExpected.toFloatArray(), x,
                    EXACT_BACKWARD.contains(op) ? 0 : 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void gradientsAtTheKinksFollowTheCpuConventions(CudaBackend b) {
        float[] x = {0f, -0f, 6f, Float.POSITIVE_INFINITY, Float.NaN, -3f, 3f, 1e-9f};
        float[] dy = {1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f};
        Tensor xg = Tensor.of(x, x.length).to(b), dyg = Tensor.of(dy, dy.length).to(b);
        Tensor dx = Tensor.zeros(b, x.length);
        b.unaryBackward(UnaryOp.RELU, xg, dyg, dx);
        assertThat(dx.toFloatArray()).containsExactly(0f, 0f, 1f, 0f, 1f, 0f, 1f, 1f);
        b.unaryBackward(UnaryOp.RELU6, xg, dyg, dx);
        assertThat(dx.toFloatArray()).containsExactly(0f, 0f, 0f, 0f, 1f, 0f, 1f, 1f);
        b.unaryBackward(UnaryOp.HARDSIGMOID, xg, dyg, dx);
        assertThat(dx.toFloatArray()).containsExactly(1 / 6f, 1 / 6f, 0f, 0f, 0f, 0f, 0f, 1 / 6f);
        b.unaryBackward(UnaryOp.HARDSWISH, xg, dyg, dx);
        assertThat(dx.toFloatArray()).containsExactly(0.5f, 0.5f, 1f, 1f, 1f, -0.5f, 1.5f, 1e-9f / 3f + 0.5f);
        Tensor y = Tensor.zeros(b, x.length);
        b.unary(UnaryOp.RELU, xg, y);
        assertThat(y.toFloatArray()).containsExactly(0f, 0f, 6f, Float.POSITIVE_INFINITY, Float.NaN, 0f, 3f, 1e-9f);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void unaryOpsWorkInPlaceOnViewsAndEmptyTensors(CudaBackend b) {
        float[] x = inputs(500, 2f);
        // In place (y is x), on a view starting at offset 5.
        Tensor base = Tensor.of(x, x.length).to(b);
        Tensor view = new Tensor(base.storage(), new int[] {x.length - 5}, new int[] {1}, 5);
        b.unary(UnaryOp.SIGMOID, view, view);
        Tensor cpuBase = Tensor.of(x, x.length);
        Tensor cpuView = new Tensor(cpuBase.storage(), new int[] {x.length - 5}, new int[] {1}, 5);
        CPU.unary(UnaryOp.SIGMOID, cpuView, cpuView);
        assertElementsClose("sigmoid in place", base.toFloatArray(), cpuBase.toFloatArray(), x, 1e-5);
        // Empty tensors launch nothing.
        Tensor empty = Tensor.zeros(b, 0);
        for (UnaryOp op : UnaryOp.values()) {
            b.unary(op, empty, empty);
            b.unaryBackward(op, empty, empty, empty);
        }
        assertThat(empty.toFloatArray()).isEmpty();
    }

    // ---------------------------------------------------------------- scalar

    @ParameterizedTest
    @MethodSource("backends")
    void everyScalarOpMatchesTheCpu(CudaBackend b) {
        float[] x = inputs(1003, 3f);
        Tensor xc = Tensor.of(x, x.length), xg = xc.to(b);
        for (ScalarOp op : ScalarOp.values()) {
            for (double s : new double[] {2.5, 2, 1, 0.5, -1.5, 0, 3, 0.1, -0.0, Double.NaN, Double.POSITIVE_INFINITY,
                    Double.NEGATIVE_INFINITY, 1e-10}) {
                Tensor expected = Tensor.zeros(CPU, x.length), actual = Tensor.zeros(b, x.length);
                CPU.scalar(op, xc, s, expected);
                b.scalar(op, xg, s, actual);
                assertElementsClose(op + " " + s, actual.toFloatArray(), expected.toFloatArray(), x, op == ScalarOp.POW ? 1e-6 : 0);
            }
        }
        Tensor empty = Tensor.zeros(b, 0);
        b.scalar(ScalarOp.POW, empty, 0.5, empty);
    }

    // ---------------------------------------------------------------- binary

    /**
     * Runs op over shape on both backends with a and b read from random buffers (with NaN, ±∞ and
     * zeros mixed in) at the given offsets and strides, and compares the outputs exactly.
     */
    private void checkBinary(CudaBackend b, String what, int[] shape, int aOffset, int[] aStrides, int bOffset, int[] bStrides) {
        float[] av = buffer(span(shape, aStrides) + aOffset), bv = buffer(span(shape, bStrides) + bOffset);
        for (BinaryOp op : BinaryOp.values()) {
            Tensor ac = flat(CPU, av, aOffset), bc = flat(CPU, bv, bOffset);
            Tensor ag = flat(b, av, aOffset), bg = flat(b, bv, bOffset);
            Tensor expected = Tensor.zeros(CPU, shape), actual = Tensor.zeros(b, shape);
            CPU.binary(op, shape, ac, aStrides, bc, bStrides, expected);
            b.binary(op, shape, ag, aStrides, bg, bStrides, actual);
            assertElementsClose(what + " " + op, actual.toFloatArray(), expected.toFloatArray(), null, 0);
        }
    }

    /** A buffer of random values with specials mixed in. */
    private float[] buffer(int n) {
        float[] v = randn(n);
        for (int i = 0; i < n; i += 17) v[i] = SPECIALS[rng.nextInt(SPECIALS.length)];
        return v;
    }

    /** Elements from the first to the last one a view of shape and strides reaches (strides ≥ 0), at least 1. */
    private static int span(int[] shape, int[] strides) {
        int s = 1;
        for (int d = 0; d < shape.length; d++) s += Math.max(0, shape[d] - 1) * strides[d];
        return s;
    }

    /** A 1-D tensor over the values from offset on, on backend be. */
    private static Tensor flat(Backend be, float[] v, int offset) {
        Storage s = be.fromFloats(v.clone());
        return new Tensor(s, new int[] {v.length - offset}, new int[] {1}, offset);
    }

    private static int[] contiguous(int... shape) {
        return Shapes.contiguousStrides(shape);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void binaryOpsBroadcastLikeTheCpu(CudaBackend b) {
        checkBinary(b, "same shape", new int[] {13, 77}, 0, contiguous(13, 77), 0, contiguous(13, 77));
        checkBinary(b, "same shape at offsets", new int[] {1001}, 3, new int[] {1}, 7, new int[] {1});
        checkBinary(b, "row broadcast", new int[] {13, 77}, 0, contiguous(13, 77), 2, new int[] {0, 1});
        checkBinary(b, "column broadcast", new int[] {13, 77}, 0, contiguous(13, 77), 0, new int[] {1, 0});
        checkBinary(b, "scalar b", new int[] {13, 77}, 0, contiguous(13, 77), 4, new int[] {0, 0});
        checkBinary(b, "scalar a", new int[] {13, 77}, 1, new int[] {0, 0}, 0, contiguous(13, 77));
        checkBinary(b, "both sides", new int[] {13, 77}, 0, new int[] {1, 0}, 0, new int[] {0, 1});
        checkBinary(b, "per channel", new int[] {2, 5, 3, 7}, 0, contiguous(2, 5, 3, 7), 0, new int[] {0, 1, 0, 0});
        checkBinary(b, "transposed a", new int[] {13, 77}, 0, new int[] {1, 13}, 0, contiguous(13, 77));
        checkBinary(b, "both transposed", new int[] {9, 11, 5}, 0, new int[] {1, 45, 9}, 3, new int[] {55, 1, 11});
        checkBinary(b, "rank 0", new int[] {}, 2, new int[] {}, 5, new int[] {});
        checkBinary(b, "size-1 dims", new int[] {1, 31, 1}, 0, new int[] {31, 1, 1}, 0, new int[] {0, 0, 0});
        // Nine dimensions that do not merge: the host splits the launch over the leading one.
        int[] shape9 = {2, 3, 2, 3, 2, 3, 2, 3, 2};
        int[] a9 = {1, 2, 6, 12, 36, 72, 216, 432, 1296};  // dimension order reversed
        int[] b9 = {0, 1, 0, 3, 0, 9, 0, 27, 0};            // broadcast on every other dimension
        checkBinary(b, "rank 9", shape9, 0, a9, 1, b9);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void binaryOpsRunInPlaceAndOnEmptyShapes(CudaBackend b) {
        int[] shape = {4, 3, 5};
        float[] z = buffer(60), r = buffer(60), bias = buffer(3);
        Tensor zc = Tensor.of(z, shape), rc = Tensor.of(r, shape);
        Tensor zg = zc.to(b), rg = rc.to(b);
        int[] s = contiguous(shape);
        CPU.binary(BinaryOp.ADD, shape, zc, s, rc, s, zc);   // out is a
        b.binary(BinaryOp.ADD, shape, zg, s, rg, s, zg);
        assertElementsClose("in place add", zg.toFloatArray(), zc.toFloatArray(), null, 0);
        Tensor bc = Tensor.of(bias, 3), bg = bc.to(b);
        int[] bs = {0, 1, 0};
        CPU.binary(BinaryOp.MUL, shape, rc, s, bc, bs, rc);  // out is a, b broadcast
        b.binary(BinaryOp.MUL, shape, rg, s, bg, bs, rg);
        assertElementsClose("in place per-channel mul", rg.toFloatArray(), rc.toFloatArray(), null, 0);
        Tensor empty = Tensor.zeros(b, 0, 5);
        for (BinaryOp op : BinaryOp.values())
            b.binary(op, new int[] {0, 5}, empty, new int[] {5, 1}, empty, new int[] {0, 1}, empty);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void divisionByZeroAndNaNPropagateAsOnTheCpu(CudaBackend b) {
        float[] a = {1f, -1f, 0f, Float.NaN, Float.POSITIVE_INFINITY, 2f, Float.NEGATIVE_INFINITY};
        float[] d = {0f, -0f, 0f, 1f, Float.POSITIVE_INFINITY, Float.NaN, 0f};
        Tensor out = Tensor.zeros(b, a.length);
        b.binary(BinaryOp.DIV, new int[] {a.length}, Tensor.of(a, a.length).to(b), new int[] {1},
                Tensor.of(d, d.length).to(b), new int[] {1}, out);
        assertThat(out.toFloatArray()).containsExactly(Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN,
                Float.NaN, Float.NaN, Float.NaN, Float.NEGATIVE_INFINITY);
    }

    // ---------------------------------------------------------------- copy and fill

    /**
     * Runs one copy on both backends over storages with the same random contents (src and dst the
     * same storage when {@code same}) and compares the whole destination storage exactly.
     */
    private void checkCopy(CudaBackend b, String what, int size, int[] shape, int srcOffset, int[] srcStrides,
                           int dstOffset, int[] dstStrides, boolean same) {
        float[] sv = randn(size), dv = randn(size);
        Storage cs = CPU.fromFloats(sv.clone()), cd = same ? cs : CPU.fromFloats(dv.clone());
        Storage gs = b.fromFloats(sv.clone()), gd = same ? gs : b.fromFloats(dv.clone());
        CPU.copy(shape, cs, srcOffset, srcStrides, cd, dstOffset, dstStrides);
        b.copy(shape, gs, srcOffset, srcStrides, gd, dstOffset, dstStrides);
        float[] expected = new float[size], actual = new float[size];
        CPU.readFloats(cd, 0, expected, 0, size);
        b.readFloats(gd, 0, actual, 0, size);
        assertElementsClose("copy " + what, actual, expected, null, 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void stridedCopiesMatchTheCpu(CudaBackend b) {
        checkCopy(b, "contiguous", 1000, new int[] {1000}, 0, new int[] {1}, 0, new int[] {1}, false);
        checkCopy(b, "at offsets", 1100, new int[] {1001}, 17, new int[] {1}, 5, new int[] {1}, false);
        checkCopy(b, "transpose", 37 * 53, new int[] {37, 53}, 0, new int[] {1, 37}, 0, new int[] {53, 1}, false);
        checkCopy(b, "broadcast rows", 5 * 7 * 9, new int[] {5, 7, 9}, 3, new int[] {0, 9, 1}, 0, new int[] {63, 9, 1}, false);
        checkCopy(b, "broadcast scalar", 300, new int[] {300}, 42, new int[] {0}, 0, new int[] {1}, false);
        checkCopy(b, "into a strided view", 400, new int[] {10, 13}, 0, new int[] {13, 1}, 1, new int[] {30, 2}, false);
        checkCopy(b, "reversed", 20, new int[] {10}, 19, new int[] {-1}, 0, new int[] {1}, false);
        checkCopy(b, "rank 0", 10, new int[] {}, 3, new int[] {}, 8, new int[] {}, false);
        checkCopy(b, "empty", 10, new int[] {3, 0, 4}, 0, new int[] {0, 4, 1}, 0, new int[] {0, 4, 1}, false);
        int[] shape8 = {2, 3, 2, 3, 2, 3, 2, 3};
        int[] rev8 = {1, 2, 6, 12, 36, 72, 216, 432};
        checkCopy(b, "rank 8 permuted", 1296, shape8, 0, rev8, 0, contiguous(shape8), false);
        int[] shape10 = {2, 3, 2, 3, 2, 3, 2, 3, 2, 2};
        int[] rev10 = {1, 2, 6, 12, 36, 72, 216, 432, 1296, 2592};
        checkCopy(b, "rank 10 permuted", 5184, shape10, 0, rev10, 0, contiguous(shape10), false);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void overlappingAndRepeatedWritesCopyAsOnTheCpu(CudaBackend b) {
        checkCopy(b, "shift right in place", 600, new int[] {500}, 0, new int[] {1}, 1, new int[] {1}, true);
        checkCopy(b, "shift left in place", 600, new int[] {500}, 1, new int[] {1}, 0, new int[] {1}, true);
        checkCopy(b, "transpose in place", 400, new int[] {20, 20}, 0, new int[] {1, 20}, 0, new int[] {20, 1}, true);
        checkCopy(b, "strided overlap", 500, new int[] {30, 7}, 3, new int[] {7, 2}, 0, new int[] {14, 1}, true);
        checkCopy(b, "disjoint halves of one storage", 200, new int[] {100}, 0, new int[] {1}, 100, new int[] {1}, true);
        // Destination stride 0: the last index of the dimension wins, as in the CPU's index order.
        checkCopy(b, "rows onto one row", 100, new int[] {4, 6}, 0, new int[] {6, 1}, 50, new int[] {0, 1}, false);
        checkCopy(b, "all onto one element", 100, new int[] {10}, 0, new int[] {1}, 99, new int[] {0}, false);
        checkCopy(b, "repeated writes in place", 100, new int[] {5, 8}, 0, new int[] {8, 1}, 4, new int[] {0, 1}, true);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void tensorCopiesGoThroughTheBackend(CudaBackend b) {
        Tensor x = CudaTesting.randn(rng, 6, 7, 8);
        Tensor permuted = x.to(b).permute(2, 0, 1);
        assertThat(permuted.contiguous().toFloatArray()).isEqualTo(x.permute(2, 0, 1).contiguous().toFloatArray());
        Tensor target = Tensor.zeros(b, 4, 6, 7, 8);
        target.copyFrom(x);  // broadcast over the leading dimension
        Tensor expected = Tensor.zeros(CPU, 4, 6, 7, 8).copyFrom(x);
        assertClose("copyFrom broadcast", target, expected, 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void fillMatchesTheCpu(CudaBackend b) {
        for (double v : new double[] {3.5, 0, -0.0, Double.NaN, 1e40, -7}) {
            for (int n : new int[] {1, 255, 1025}) {
                float[] init = randn(n + 9);
                Tensor cpu = new Tensor(CPU.fromFloats(init.clone()), new int[] {n}, new int[] {1}, 4);
                Tensor gpu = new Tensor(b.fromFloats(init.clone()), new int[] {n}, new int[] {1}, 4);
                CPU.fill(cpu, v);
                b.fill(gpu, v);
                float[] expected = new float[n + 9], actual = new float[n + 9];
                CPU.readFloats(cpu.storage(), 0, expected, 0, n + 9);
                b.readFloats(gpu.storage(), 0, actual, 0, n + 9);
                for (int i = 0; i < n + 9; i++)
                    assertThat(Float.floatToRawIntBits(actual[i])).as("fill " + v + " n " + n + " element " + i)
                            .isEqualTo(Float.floatToRawIntBits(expected[i]));
            }
        }
        b.fill(Tensor.zeros(b, 0), 1);
    }
}
