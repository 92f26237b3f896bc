package dev.graft.backend.cpu;

import static dev.graft.backend.cpu.CpuTesting.CPU;
import static dev.graft.backend.cpu.CpuTesting.REF;
import static dev.graft.backend.cpu.CpuTesting.assertBitIdentical;
import static dev.graft.backend.cpu.CpuTesting.assertClose;
import static dev.graft.backend.cpu.CpuTesting.assertCloseScaled;
import static dev.graft.backend.cpu.CpuTesting.atOffset;
import static dev.graft.backend.cpu.CpuTesting.copy;
import static dev.graft.backend.cpu.CpuTesting.ints;
import static dev.graft.backend.cpu.CpuTesting.randn;
import static dev.graft.backend.cpu.CpuTesting.raw;
import static dev.graft.backend.cpu.CpuTesting.uniform;
import static dev.graft.backend.cpu.CpuTesting.zeros;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Every CpuBackend kernel against {@link dev.graft.backend.reference.ReferenceBackend#FLOAT32} on
 * random inputs, plus bit-identical results for 1, 2 and 7 threads.
 */
class CpuBackendTest {
    private final Random rng = new Random(1234);
    private final int savedThreads = Parallel.threads();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(savedThreads);
    }

    @Test
    void identity() {
        assertThat(CpuBackend.instance()).isSameAs(CPU);
        assertThat(CPU.dtype()).isEqualTo(DType.FLOAT32);
        assertThat(CPU.device()).isEqualTo(Device.CPU);
        assertThat(CPU.allocate(3)).isInstanceOf(FloatStorage.class);
        float[] out = new float[2];
        CPU.readFloats(CPU.fromDoubles(new double[] {1.5, -2}), 0, out, 0, 2);
        assertThat(out).containsExactly(1.5f, -2f);
    }

    // ------------------------------------------------------------------ memory

    @Nested
    class Memory {
        private void checkCopy(int[] shape, Tensor src, int srcOff, int[] srcStrides, int dstSize, int dstOff, int[] dstStrides) {
            Tensor d1 = zeros(dstSize), d2 = zeros(dstSize);
            CPU.copy(shape, src.storage(), srcOff, srcStrides, d1.storage(), dstOff, dstStrides);
            REF.copy(shape, src.storage(), srcOff, srcStrides, d2.storage(), dstOff, dstStrides);
            assertBitIdentical("copy " + Shapes.str(shape), raw(d1), raw(d2));
        }

        @Test
        void contiguousTransposedAndBroadcastCopies() {
            Tensor src = randn(rng, 64_000);
            checkCopy(new int[] {3, 5, 7}, src, 3, new int[] {35, 7, 1}, 200, 2, new int[] {35, 7, 1});
            checkCopy(new int[] {7, 5, 3}, src, 1, new int[] {1, 7, 35}, 200, 0, new int[] {15, 3, 1});   // permuted
            checkCopy(new int[] {4, 6}, src, 5, new int[] {0, 1}, 100, 1, new int[] {6, 1});              // broadcast rows
            checkCopy(new int[] {4, 6}, src, 5, new int[] {1, 0}, 100, 1, new int[] {6, 1});              // broadcast columns
            checkCopy(new int[] {2, 3, 4}, src, 0, new int[] {40, 8, 2}, 100, 3, new int[] {1, 2, 6});    // strided both sides
            checkCopy(new int[] {}, src, 17, new int[] {}, 3, 2, new int[] {});                           // 0-D
            checkCopy(new int[] {64, 1000}, src, 0, new int[] {1, 64}, 64000, 0, new int[] {1000, 1});    // large, parallel
            checkCopy(new int[] {3, 0, 2}, src, 0, new int[] {0, 2, 1}, 5, 0, new int[] {0, 2, 1});       // empty
        }

        @Test
        void overlappingViewsCopyAsThroughATemporary() {
            for (int[] offs : new int[][] {{0, 3}, {3, 0}, {2, 2}}) {
                Tensor a = randn(rng, 60), b = copy(a);
                int[] shape = {5, 4}, ss = {1, 5}, ds = {4, 1};   // read transposed, write rows, same storage
                CPU.copy(shape, a.storage(), offs[0], ss, a.storage(), offs[1], ds);
                REF.copy(shape, b.storage(), offs[0], ss, b.storage(), offs[1], ds);
                assertBitIdentical("overlapping copy", raw(a), raw(b));
            }
        }

        @Test
        void largeArraysAreRecycledOnceReleasedAndOnlyOnce() {
            int size = CpuMemory.MIN_POOLED + 7;
            assertThat(Boolean.getBoolean("graft.cpu.poison")).as("tests run with -Dgraft.cpu.poison=true").isTrue();
            FloatStorage first = (FloatStorage) CPU.allocateUninitialized(size);
            assertThat(first.data[0]).isNaN();
            assertThat(first.data[size - 1]).isNaN();
            java.util.Arrays.fill(first.data, 3f);
            CPU.release(first);
            CPU.release(first);   // a second release is ignored: the array must not be handed out twice
            FloatStorage again = (FloatStorage) CPU.allocate(size);
            assertThat(again.data).isSameAs(first.data);
            for (float v : again.data) assertThat(v).isZero();   // allocate() zeroes a recycled array
            FloatStorage other = (FloatStorage) CPU.allocate(size);
            assertThat(other.data).isNotSameAs(first.data);
            FloatStorage small = (FloatStorage) CPU.allocateUninitialized(10);
            CPU.release(small);   // below the pooled size: nothing happens
            assertThat(small.data).hasSize(10);
        }

        @Test
        void aMemoryScopeRecyclesItsOpResultsButNotKeptTensorsOrGradients() {
            int n = CpuMemory.MIN_POOLED;
            Tensor x = Tensor.of(new float[n], n).requiresGrad(true);
            float[] temp, kept, grad;
            Tensor keptT;
            try (var _ = dev.graft.tensor.MemoryScope.open()) {
                Tensor y = x.mul(2.0);
                temp = ((FloatStorage) y.storage()).data;
                keptT = dev.graft.tensor.MemoryScope.keep(x.add(1.0));
                kept = ((FloatStorage) keptT.storage()).data;
                dev.graft.ops.Reductions.sum(y.mul(y).add(y), new int[] {0}, false).backward();
                grad = ((FloatStorage) x.grad().storage()).data;
            }
            java.util.Set<float[]> handedOut = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            for (int i = 0; i < 8; i++) handedOut.add(((FloatStorage) CPU.allocateUninitialized(n)).data);
            assertThat(handedOut).as("the scope's temporary is reused").contains(temp);
            assertThat(handedOut).doesNotContain(kept, grad);
            assertThat(keptT.toFloatArray()[0]).isEqualTo(1f);
            assertThat(x.grad().toFloatArray()[n - 1]).isEqualTo(2f);   // d/dx of 4x² + 2x at 0
        }

        @Test
        void fillTouchesOnlyTheTensor() {
            Tensor t = atOffset(randn(rng, 100), 4);
            CPU.fill(t, 2.5);
            float[] r = raw(t);
            for (int i = 0; i < r.length; i++) {
                if (i >= 4 && i < 104) assertThat(r[i]).isEqualTo(2.5f);
                else assertThat(r[i]).isNaN();
            }
        }
    }

    // ------------------------------------------------------------------ element-wise

    @Nested
    class Elementwise {
        private Tensor inputFor(UnaryOp op, int n) {
            Tensor x = switch (op) {
                case LOG, SQRT -> uniform(rng, 0.01, 5, n);
                case EXP -> uniform(rng, -10, 10, n);
                default -> uniform(rng, -8, 8, n);
            };
            float[] v = x.toFloatArray();
            // The kinks, where PyTorch's gradient conventions matter.
            float[] special = op == UnaryOp.LOG || op == UnaryOp.SQRT ? new float[] {1f, 4f}
                    : new float[] {0f, -0f, 6f, -3f, 3f, 1e-8f, -1e-8f, 20f, -20f};
            System.arraycopy(special, 0, v, 0, special.length);
            return Tensor.of(v, n);
        }

        @Test
        void unaryForwardAndBackward() {
            for (UnaryOp op : UnaryOp.values()) {
                for (int n : new int[] {37, 100_003}) {
                    Tensor x = atOffset(inputFor(op, n), 3), dy = randn(rng, n);
                    Tensor y1 = zeros(n), y2 = zeros(n), g1 = zeros(n), g2 = zeros(n);
                    CPU.unary(op, x, y1);
                    REF.unary(op, x, y2);
                    assertClose(op + " forward", y1, y2, 2e-6, 1e-7);
                    CPU.unaryBackward(op, x, dy, g1);
                    REF.unaryBackward(op, x, dy, g2);
                    assertClose(op + " backward", g1, g2, 2e-6, 1e-7);
                }
            }
        }

        @Test
        void nanPropagatesThroughRelu() {
            Tensor x = Tensor.of(new float[] {Float.NaN, -1f, 2f}, 3), y = zeros(3);
            CPU.unary(UnaryOp.RELU, x, y);
            assertThat(y.toFloatArray()[0]).isNaN();
        }

        @Test
        void scalarOps() {
            for (ScalarOp op : ScalarOp.values()) {
                for (double s : new double[] {2, 0.5, -1.25, 3, 1}) {
                    Tensor x = op == ScalarOp.POW ? uniform(rng, 0.1, 3, 40_001) : randn(rng, 40_001);
                    Tensor y1 = zeros(40_001), y2 = zeros(40_001);
                    CPU.scalar(op, x, s, y1);
                    REF.scalar(op, x, s, y2);
                    assertClose(op + " " + s, y1, y2, 2e-6, 1e-7);
                }
            }
        }

        private void checkBinary(int[] shape, int[] aShape, int[] bShape) {
            Tensor a = atOffset(randn(rng, aShape), 2), b = atOffset(uniform(rng, 0.5, 2, bShape), 1);
            int[] as = Shapes.broadcastStrides(aShape, a.strides(), shape), bs = Shapes.broadcastStrides(bShape, b.strides(), shape);
            for (BinaryOp op : BinaryOp.values()) {
                Tensor o1 = zeros(shape), o2 = zeros(shape);
                CPU.binary(op, shape, a, as, b, bs, o1);
                REF.binary(op, shape, a, as, b, bs, o2);
                assertClose(op + " " + Shapes.str(aShape) + " with " + Shapes.str(bShape), o1, o2, 1e-6, 0);
            }
        }

        @Test
        void binaryWithBroadcasting() {
            checkBinary(new int[] {50_000}, new int[] {50_000}, new int[] {50_000});             // same shape, parallel
            checkBinary(new int[] {4, 16, 9, 9}, new int[] {4, 16, 9, 9}, new int[] {1, 16, 1, 1}); // per channel
            checkBinary(new int[] {4, 16, 9, 9}, new int[] {1, 16, 1, 1}, new int[] {4, 16, 9, 9}); // a per channel
            checkBinary(new int[] {33, 70}, new int[] {33, 70}, new int[] {70});                   // row vector
            checkBinary(new int[] {33, 70}, new int[] {33, 1}, new int[] {1, 70});                 // outer product
            checkBinary(new int[] {5, 6}, new int[] {5, 6}, new int[] {});                         // scalar
            checkBinary(new int[] {}, new int[] {}, new int[] {});                                 // 0-D
            checkBinary(new int[] {3, 1, 5}, new int[] {3, 1, 5}, new int[] {1, 1, 5});
        }

        @Test
        void binaryOnTransposedOperands() {
            Tensor a = randn(rng, 6, 8), b = randn(rng, 8, 6);
            int[] shape = {6, 8};
            Tensor o1 = zeros(shape), o2 = zeros(shape);
            CPU.binary(BinaryOp.SUB, shape, a, a.strides(), b, new int[] {1, 6}, o1);
            REF.binary(BinaryOp.SUB, shape, a, a.strides(), b, new int[] {1, 6}, o2);
            assertClose("a - bᵀ", o1, o2, 0, 0);
        }
    }

    // ------------------------------------------------------------------ reductions

    @Nested
    class Reductions {
        private void checkSum(int[] shape, int[] keep) {
            Tensor x = atOffset(randn(rng, shape), 3);
            int[] outShape = new int[shape.length];
            for (int d = 0; d < shape.length; d++) outShape[d] = keep[d] == 1 ? shape[d] : 1;
            int[] contiguous = Shapes.contiguousStrides(outShape), outStrides = new int[shape.length];
            for (int d = 0; d < shape.length; d++) outStrides[d] = keep[d] == 1 ? contiguous[d] : 0;
            Tensor o1 = atOffset(zeros(outShape), 1), o2 = zeros(outShape);
            CPU.sum(shape, x, outStrides, o1);
            REF.sum(shape, x, outStrides, o2);
            assertCloseScaled("sum " + Shapes.str(shape) + " keep " + Shapes.str(keep), o1, o2, 1e-6);
        }

        @Test
        void sums() {
            checkSum(new int[] {300_001}, new int[] {0});                 // full, several blocks
            checkSum(new int[] {8, 16, 10, 10}, new int[] {0, 1, 0, 0});  // conv bias gradient
            checkSum(new int[] {64, 100}, new int[] {0, 1});              // linear bias gradient
            checkSum(new int[] {64, 100}, new int[] {1, 0});              // rows
            checkSum(new int[] {5, 7, 9}, new int[] {1, 0, 1});           // middle axis
            checkSum(new int[] {5, 7, 9}, new int[] {1, 1, 1});           // nothing reduced
            checkSum(new int[] {2, 3, 4, 5}, new int[] {0, 0, 0, 0});
            checkSum(new int[] {}, new int[] {});
            checkSum(new int[] {3000, 40}, new int[] {0, 1});             // parallel split over a kept dim
        }

        @Test
        void softmaxAndBackward() {
            int[][] configs = {{7, 10, 1}, {3, 5, 9}, {2, 1000, 1}, {300, 17, 1}, {4, 6, 33}};
            for (int[] c : configs) {
                for (boolean log : new boolean[] {false, true}) {
                    int[] shape = {c[0], c[1], c[2]};
                    Tensor x = uniform(rng, -20, 20, shape), dy = randn(rng, shape);
                    Tensor y1 = zeros(shape), y2 = zeros(shape), g1 = zeros(shape), g2 = zeros(shape);
                    CPU.softmax(x, y1, c[0], c[1], c[2], log);
                    REF.softmax(x, y2, c[0], c[1], c[2], log);
                    assertClose((log ? "log_softmax " : "softmax ") + Shapes.str(shape), y1, y2, 1e-5, 1e-7);
                    CPU.softmaxBackward(y2, dy, g1, c[0], c[1], c[2], log);
                    REF.softmaxBackward(y2, dy, g2, c[0], c[1], c[2], log);
                    assertClose("backward " + Shapes.str(shape), g1, g2, 1e-5, 1e-6);
                }
            }
        }
    }

    // ------------------------------------------------------------------ gemm

    @Test
    void batchedGemmWithStridesAndBroadcast() {
        int[][] configs = {{3, 17, 9, 33}, {2, 65, 70, 129}, {1, 1, 300, 7}, {5, 8, 8, 8}};
        for (int[] c : configs) {
            int batch = c[0], m = c[1], n = c[2], k = c[3];
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                for (double[] ab : new double[][] {{1, 0}, {0.5, 1}, {-1, 0.25}}) {
                    boolean shareB = t == 3;   // strideB = 0 broadcasts one matrix
                    Tensor a = atOffset(randn(rng, batch * m * k), 2);
                    Tensor b = randn(rng, (shareB ? 1 : batch) * k * n);
                    Tensor c1 = atOffset(randn(rng, batch * m * n), 1), c2 = copy(c1);
                    c2 = atOffset(c2, 1);
                    CPU.gemm(ta, tb, batch, m, n, k, ab[0], a, m * k, b, shareB ? 0 : k * n, ab[1], c1, m * n);
                    REF.gemm(ta, tb, batch, m, n, k, ab[0], a, m * k, b, shareB ? 0 : k * n, ab[1], c2, m * n);
                    assertCloseScaled(String.format("gemm batch=%d m=%d n=%d k=%d %s%s", batch, m, n, k, ta ? "T" : "N", tb ? "T" : "N"),
                            c1, c2, 2e-6 * Math.sqrt(k));
                }
            }
        }
    }

    // ------------------------------------------------------------------ optimizers

    @Nested
    class Optimizers {
        @Test
        void sgdVariants() {
            int n = 50_001;
            double[][] hp = {{0.1, 0, 0, 0}, {0.05, 0.9, 0, 1e-4}, {0.05, 0.9, 0.1, 0}, {0.01, 0.8, 0, 5e-4}};
            for (double[] h : hp) {
                for (boolean nesterov : new boolean[] {false, true}) {
                    if (nesterov && h[1] == 0) continue;
                    Tensor p1 = randn(rng, n), grad = randn(rng, n), b1 = randn(rng, n);
                    Tensor p2 = copy(p1), b2 = copy(b1);
                    for (int step = 0; step < 3; step++) {
                        boolean first = step == 0;
                        CPU.sgdStep(p1, grad, h[1] == 0 ? null : b1, h[0], h[1], h[2], h[3], nesterov, first);
                        REF.sgdStep(p2, grad, h[1] == 0 ? null : b2, h[0], h[1], h[2], h[3], nesterov, first);
                    }
                    // float arithmetic (as PyTorch) vs double: p − lr·g cancels, so allow an ulp of |p| ≈ 1.
                    assertClose("sgd param", p1, p2, 1e-6, 1e-6);
                    if (h[1] != 0) assertClose("sgd buffer", b1, b2, 1e-6, 1e-6);
                }
            }
        }

        @Test
        void adamw() {
            int n = 50_001;
            Tensor p1 = randn(rng, n), m1 = zeros(n), v1 = zeros(n);
            Tensor p2 = copy(p1), m2 = zeros(n), v2 = zeros(n);
            for (int step = 1; step <= 5; step++) {
                Tensor grad = randn(rng, n);
                CPU.adamwStep(p1, grad, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 0.01, step);
                REF.adamwStep(p2, grad, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 0.01, step);
            }
            assertClose("adamw param", p1, p2, 1e-6, 1e-6);
            assertClose("adamw exp_avg", m1, m2, 1e-5, 1e-7);
            assertClose("adamw exp_avg_sq", v1, v2, 1e-5, 1e-9);
        }
    }

    // ------------------------------------------------------------------ thread-count independence

    @Test
    void elementwiseAndReductionsAreBitIdenticalAcrossThreadCounts() {
        Tensor x = randn(rng, 64, 300, 17), b = randn(rng, 300, 1);
        int[] shape = x.shape();
        float[][] results = new float[3][];
        int[] threads = {1, 2, 7};
        for (int i = 0; i < threads.length; i++) {
            Parallel.setThreads(threads[i]);
            Tensor s1 = zeros(1), s2 = zeros(1, 300, 1), sm = zeros(shape), bo = zeros(shape);
            CPU.sum(shape, x, new int[] {0, 0, 0}, s1);
            CPU.sum(shape, x, new int[] {0, 1, 0}, s2);
            CPU.softmax(x, sm, 64, 300, 17, false);
            CPU.binary(BinaryOp.MUL, shape, x, x.strides(), b, new int[] {0, 1, 0}, bo);
            float[] all = new float[1 + 300 + 2 * x.numel()];
            System.arraycopy(s1.toFloatArray(), 0, all, 0, 1);
            System.arraycopy(s2.toFloatArray(), 0, all, 1, 300);
            System.arraycopy(sm.toFloatArray(), 0, all, 301, x.numel());
            System.arraycopy(bo.toFloatArray(), 0, all, 301 + x.numel(), x.numel());
            results[i] = all;
        }
        assertBitIdentical("2 threads vs 1", results[1], results[0]);
        assertBitIdentical("7 threads vs 1", results[2], results[0]);
    }

    // ------------------------------------------------------------------ convolution

    @Nested
    class Convolution {
        /** {n, inC, h, w, outC, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups} */
        private static final int[][] CONFIGS = {
                {2, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 3x3 s1 p1
                {2, 8, 11, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1},      // 3x3 s2 p1
                {1, 3, 23, 20, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1},      // 7x7 s2 p3 (stem)
                {3, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // 1x1 s1, images side by side
                {1, 16, 9, 8, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // 1x1 s1, one image: plain GEMM on x
                {3, 5, 40, 33, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // 1x1 s1, one image per chunk
                {2, 16, 9, 9, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1},       // 1x1 s2
                {2, 12, 9, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12},    // depthwise 3x3 s1
                {2, 12, 9, 10, 12, 3, 3, 2, 2, 1, 1, 1, 1, 12},    // depthwise 3x3 s2
                {1, 6, 13, 8, 6, 5, 5, 2, 1, 2, 2, 1, 1, 6},       // depthwise 5x5, mixed strides
                {2, 6, 7, 40, 6, 3, 3, 1, 2, 1, 1, 1, 1, 6},       // depthwise, rows wider than a vector
                {1, 4, 11, 37, 4, 3, 5, 2, 3, 1, 2, 2, 2, 4},      // depthwise, dilation 2, stride 3, 3x5
                {2, 5, 20, 19, 5, 7, 7, 1, 1, 3, 3, 1, 1, 5},      // depthwise 7x7
                {1, 3, 5, 5, 3, 3, 3, 2, 2, 0, 0, 1, 1, 3},        // depthwise, unpadded
                {2, 8, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},        // groups = 2
                {2, 4, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4},        // channel multiplier 2 (not depthwise)
                {2, 4, 12, 11, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1},      // dilation 2
                {2, 5, 14, 9, 6, 3, 1, 2, 1, 1, 0, 1, 1, 1},       // 3x1 kernel, non-square input
                {10, 6, 4, 5, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // many tiny images in one chunk
                {3, 4, 32, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // one image per chunk
                {9, 3, 20, 20, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},      // several images per chunk, uneven chunks
                {4, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // big enough to split GEMMs
                {2, 8, 9, 9, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // weight gradient as dY·colᵀ (K ≤ outC)
                {3, 16, 10, 10, 80, 3, 3, 2, 2, 1, 1, 1, 1, 1},    // … and with outC > 64
                {2, 3, 5, 5, 4, 3, 3, 3, 3, 0, 0, 1, 1, 1},        // stride larger than needed
                // Winograd F(2x2, 3x3) (3x3 stride 1, >= 16 channels each side):
                {2, 16, 7, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // odd output: clipped last tile row and column
                {1, 16, 9, 11, 20, 3, 3, 1, 1, 0, 0, 1, 1, 1},     // unpadded (data gradient padded by 2)
                {2, 17, 6, 13, 18, 3, 3, 1, 1, 2, 2, 1, 1, 1},     // padding 2 (data gradient unpadded)
                {1, 16, 8, 10, 16, 3, 3, 1, 1, 0, 2, 1, 1, 1},     // different paddings per axis
                {1, 16, 5, 150, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // a tile row wider than a block
                {20, 16, 2, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // many tiny images per block
                {1, 20, 6, 6, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // more output channels than one pass
        };

        private ConvGeometry geometry(int[] c) {
            return ConvGeometry.of(new int[] {c[0], c[1], c[2], c[3]}, new int[] {c[4], c[1] / c[13], c[5], c[6]},
                    new int[] {c[7], c[8]}, new int[] {c[9], c[10]}, new int[] {c[11], c[12]}, c[13]);
        }

        private String name(int[] c) {
            return java.util.Arrays.toString(c);
        }

        @Test
        void forwardMatchesReference() {
            for (int[] c : CONFIGS) {
                ConvGeometry g = geometry(c);
                Tensor x = atOffset(randn(rng, c[0], c[1], c[2], c[3]), 3), w = randn(rng, g.weightShape());
                for (boolean withBias : new boolean[] {false, true}) {
                    Tensor bias = withBias ? atOffset(randn(rng, g.outC()), 1) : null;
                    Tensor y1 = atOffset(zeros(g.outputShape()), 2), y2 = zeros(g.outputShape());
                    CPU.conv2dForward(g, x, w, bias, y1);
                    REF.conv2dForward(g, x, w, bias, y2);
                    assertCloseScaled("conv forward " + name(c) + (withBias ? " with bias" : ""), y1, y2, 1e-5);
                }
            }
        }

        /** Convolution + batch norm (+ ReLU/ReLU6) in the GEMM epilogue equals the kernels in sequence bit for bit. */
        @Test
        void fusedBatchNormEpilogueEqualsTheKernelsInSequence() {
            for (int[] c : CONFIGS) {
                ConvGeometry g = geometry(c);
                int oc = g.outC(), hw = g.oh() * g.ow();
                Tensor x = atOffset(randn(rng, c[0], c[1], c[2], c[3]), 3), w = randn(rng, g.weightShape());
                Tensor mean = randn(rng, oc), invStd = uniform(rng, 0.5, 2, oc), bw = randn(rng, oc), bb = randn(rng, oc);
                for (UnaryOp act : new UnaryOp[] {null, UnaryOp.RELU, UnaryOp.RELU6}) {
                    Tensor bias = act == UnaryOp.RELU ? randn(rng, oc) : null;
                    Tensor y1 = zeros(g.outputShape()), y2 = zeros(g.outputShape());
                    CPU.conv2dBatchNormForward(g, x, w, bias, mean, invStd, bw, act == UnaryOp.RELU6 ? null : bb, act, y1);
                    CPU.conv2dForward(g, x, w, bias, y2);
                    Tensor z = zeros(g.outputShape());
                    if (act == null) CPU.batchNormForward(g.n(), oc, hw, y2, mean, invStd, bw, bb, z);
                    else CPU.batchNormActivationForward(g.n(), oc, hw, y2, mean, invStd, bw, act == UnaryOp.RELU6 ? null : bb, act, z);
                    assertBitIdentical("conv+bn+" + act + " " + name(c), y1.toFloatArray(), z.toFloatArray());
                }
            }
        }

        @Test
        void backwardDataMatchesReference() {
            for (int[] c : CONFIGS) {
                ConvGeometry g = geometry(c);
                Tensor dy = atOffset(randn(rng, g.outputShape()), 1), w = randn(rng, g.weightShape());
                Tensor dx1 = atOffset(randn(rng, c[0], c[1], c[2], c[3]), 2), dx2 = zeros(c[0], c[1], c[2], c[3]);
                CPU.conv2dBackwardData(g, dy, w, dx1);
                REF.conv2dBackwardData(g, dy, w, dx2);
                assertCloseScaled("conv backward data " + name(c), dx1, dx2, 1e-5);
            }
        }

        @Test
        void backwardWeightMatchesReference() {
            for (int[] c : CONFIGS) {
                ConvGeometry g = geometry(c);
                Tensor x = randn(rng, c[0], c[1], c[2], c[3]), dy = atOffset(randn(rng, g.outputShape()), 3);
                Tensor dw1 = atOffset(randn(rng, g.weightShape()), 1), dw2 = zeros(g.weightShape());
                CPU.conv2dBackwardWeight(g, x, dy, dw1);
                REF.conv2dBackwardWeight(g, x, dy, dw2);
                assertCloseScaled("conv backward weight " + name(c), dw1, dw2, 1e-5);
            }
        }

        @Test
        void bitIdenticalAcrossThreadCounts() {
            int[][] configs = {
                    {2, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // one chunk
                    {3, 4, 32, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // three chunks of one image
                    {6, 5, 40, 33, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1, six chunks
                    {9, 3, 20, 20, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // several images per chunk, uneven
                    {2, 12, 9, 10, 12, 3, 3, 2, 2, 1, 1, 1, 1, 12},   // depthwise
                    {2, 8, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},       // groups
                    {4, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // GEMMs split across threads
            };
            for (int[] c : configs) {
                ConvGeometry g = geometry(c);
                Tensor x = randn(rng, c[0], c[1], c[2], c[3]), w = randn(rng, g.weightShape()), b = randn(rng, g.outC());
                Tensor dy = randn(rng, g.outputShape());
                float[][] runs = new float[3][];
                int[] threads = {1, 2, 7};
                for (int i = 0; i < 3; i++) {
                    Parallel.setThreads(threads[i]);
                    Tensor y = zeros(g.outputShape()), dx = zeros(x.shape()), dw = zeros(g.weightShape());
                    CPU.conv2dForward(g, x, w, b, y);
                    CPU.conv2dBackwardData(g, dy, w, dx);
                    CPU.conv2dBackwardWeight(g, x, dy, dw);
                    float[] all = new float[y.numel() + dx.numel() + dw.numel()];
                    System.arraycopy(y.toFloatArray(), 0, all, 0, y.numel());
                    System.arraycopy(dx.toFloatArray(), 0, all, y.numel(), dx.numel());
                    System.arraycopy(dw.toFloatArray(), 0, all, y.numel() + dx.numel(), dw.numel());
                    runs[i] = all;
                }
                assertBitIdentical("conv " + name(c) + " 2 vs 1 threads", runs[1], runs[0]);
                assertBitIdentical("conv " + name(c) + " 7 vs 1 threads", runs[2], runs[0]);
            }
        }
    }

    // ------------------------------------------------------------------ batch norm

    @Nested
    class BatchNorm {
        @Test
        void statsForwardAndBackward() {
            int[][] shapes = {{4, 6, 25}, {8, 32, 400}, {1, 3, 1}};
            for (int[] s : shapes) {
                int n = s[0], c = s[1], hw = s[2];
                Tensor x = atOffset(uniform(rng, -3, 5, n, c, hw), 2), dy = randn(rng, n, c, hw);
                Tensor m1 = zeros(c), v1 = zeros(c), m2 = zeros(c), v2 = zeros(c);
                CPU.batchNormStats(n, c, hw, x, m1, v1);
                REF.batchNormStats(n, c, hw, x, m2, v2);
                assertClose("bn mean", m1, m2, 1e-6, 1e-7);
                assertClose("bn var", v1, v2, 1e-6, 1e-7);
                float[] is = v2.toFloatArray();
                for (int i = 0; i < c; i++) is[i] = (float) (1 / Math.sqrt(is[i] + 1e-5));
                Tensor invStd = Tensor.of(is, c), w = randn(rng, c), b = randn(rng, c);
                for (boolean affine : new boolean[] {true, false}) {
                    Tensor wt = affine ? w : null, bt = affine ? b : null;
                    Tensor y1 = zeros(n, c, hw), y2 = zeros(n, c, hw);
                    CPU.batchNormForward(n, c, hw, x, m2, invStd, wt, bt, y1);
                    REF.batchNormForward(n, c, hw, x, m2, invStd, wt, bt, y2);
                    assertClose("bn forward", y1, y2, 1e-5, 1e-6);
                    for (boolean batchStats : new boolean[] {true, false}) {
                        Tensor dx1 = zeros(n, c, hw), dx2 = zeros(n, c, hw);
                        Tensor dw1 = zeros(c), dw2 = zeros(c), db1 = zeros(c), db2 = zeros(c);
                        CPU.batchNormBackward(n, c, hw, x, dy, m2, invStd, wt, batchStats, dx1, dw1, db1);
                        REF.batchNormBackward(n, c, hw, x, dy, m2, invStd, wt, batchStats, dx2, dw2, db2);
                        String what = "bn backward " + java.util.Arrays.toString(s) + (batchStats ? " train" : " eval");
                        assertCloseScaled(what + " dx", dx1, dx2, 2e-5);
                        assertCloseScaled(what + " dWeight", dw1, dw2, 1e-5);
                        assertCloseScaled(what + " dBias", db1, db2, 1e-5);
                        Tensor only = zeros(n, c, hw);   // dWeight and dBias not wanted
                        CPU.batchNormBackward(n, c, hw, x, dy, m2, invStd, wt, batchStats, only, null, null);
                        assertBitIdentical(what + " dx alone", only.toFloatArray(), dx1.toFloatArray());
                    }
                }
            }
        }

        /** The fused batch norm + ReLU/ReLU6 kernels equal the separate kernels bit for bit. */
        @Test
        void fusedWithActivationEqualsTheKernelsInSequence() {
            int[][] shapes = {{4, 6, 25}, {8, 32, 400}, {2, 3, 49}};
            for (int[] s : shapes) {
                int n = s[0], c = s[1], hw = s[2];
                Tensor x = atOffset(uniform(rng, -3, 9, n, c, hw), 1), dz = randn(rng, n, c, hw);
                float[] xr = ((FloatStorage) x.storage()).data;
                xr[3] = Float.NaN;
                Tensor mean = uniform(rng, -1, 1, c), invStd = uniform(rng, 0.5f, 2, c), w = randn(rng, c), b = randn(rng, c);
                for (UnaryOp act : new UnaryOp[] {UnaryOp.RELU, UnaryOp.RELU6}) {
                    Tensor z = zeros(n, c, hw), y = zeros(n, c, hw), z2 = zeros(n, c, hw);
                    CPU.batchNormActivationForward(n, c, hw, x, mean, invStd, w, b, act, z);
                    CPU.batchNormForward(n, c, hw, x, mean, invStd, w, b, y);
                    CPU.unary(act, y, z2);
                    String what = "bn+" + act + " " + java.util.Arrays.toString(s);
                    assertBitIdentical(what + " forward", z.toFloatArray(), z2.toFloatArray());
                    Tensor r = randn(rng, n, c, hw), zr = zeros(n, c, hw), sum = zeros(n, c, hw), zr2 = zeros(n, c, hw);
                    CPU.batchNormAddActivationForward(n, c, hw, x, mean, invStd, w, b, r, act, zr);
                    int[] st = y.strides();
                    CPU.binary(dev.graft.backend.BinaryOp.ADD, y.shape(), y, st, r, st, sum);
                    CPU.unary(act, sum, zr2);
                    assertBitIdentical(what + " with residual, forward", zr.toFloatArray(), zr2.toFloatArray());
                    for (boolean batchStats : new boolean[] {true, false}) {
                        Tensor dx1 = zeros(n, c, hw), dw1 = zeros(c), db1 = zeros(c);
                        Tensor dx2 = zeros(n, c, hw), dw2 = zeros(c), db2 = zeros(c), dy = zeros(n, c, hw);
                        CPU.batchNormActivationBackward(n, c, hw, x, z, dz, mean, invStd, w, batchStats, act, dx1, dw1, db1);
                        CPU.unaryBackward(act, y, dz, dy);
                        CPU.batchNormBackward(n, c, hw, x, dy, mean, invStd, w, batchStats, dx2, dw2, db2);
                        assertBitIdentical(what + " dx " + batchStats, dx1.toFloatArray(), dx2.toFloatArray());
                        assertBitIdentical(what + " dWeight " + batchStats, dw1.toFloatArray(), dw2.toFloatArray());
                        assertBitIdentical(what + " dBias " + batchStats, db1.toFloatArray(), db2.toFloatArray());
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ pooling

    @Nested
    class Pooling {
        /** {n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, ceil} */
        private static final int[][] CONFIGS = {
                {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, 0},
                {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0},   // ResNet stem pool
                {2, 3, 10, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1},  // ceil mode with padding
                {1, 2, 8, 8, 3, 3, 2, 2, 0, 0, 1, 1, 1},    // ceil mode, partial last window
                {1, 2, 5, 7, 2, 2, 1, 1, 0, 0, 1, 1, 0},
                {1, 2, 9, 9, 3, 3, 1, 1, 1, 1, 2, 2, 0},    // dilation (max only)
                {2, 2, 7, 6, 3, 2, 2, 1, 1, 1, 1, 1, 0},    // non-square kernel
                {1, 1, 6, 6, 3, 3, 3, 3, 1, 1, 1, 1, 1},
                {8, 64, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, 0}, // enough planes to split
                // Rows wide enough for the vector path of max pooling (≥ 16 inside windows per row):
                {2, 3, 12, 75, 3, 3, 2, 2, 1, 1, 1, 1, 0},
                {1, 2, 6, 41, 3, 3, 1, 1, 1, 1, 1, 1, 0},
                {1, 2, 9, 50, 3, 3, 1, 1, 1, 1, 2, 2, 0},
                {1, 2, 8, 70, 2, 3, 1, 3, 0, 1, 1, 1, 1},
                // Stride 2 on rows split into even/odd columns, partial last vector:
                {1, 2, 6, 70, 2, 2, 2, 2, 0, 0, 1, 1, 0},
                {1, 3, 7, 67, 3, 3, 2, 2, 1, 1, 1, 1, 1},
                {2, 2, 9, 112, 3, 3, 2, 2, 1, 1, 1, 1, 0},   // ResNet stem pool row width
        };

        private PoolGeometry geometry(int[] c, boolean countIncludePad) {
            return PoolGeometry.of(new int[] {c[0], c[1], c[2], c[3]}, new int[] {c[4], c[5]}, new int[] {c[6], c[7]},
                    new int[] {c[8], c[9]}, new int[] {c[10], c[11]}, c[12] == 1, countIncludePad);
        }

        @Test
        void maxPoolingWithTies() {
            for (int[] c : CONFIGS) {
                PoolGeometry g = geometry(c, true);
                Tensor x = atOffset(ints(rng, 4, c[0], c[1], c[2], c[3]), 1), dy = randn(rng, g.outputShape());
                float[] xr = ((FloatStorage) x.storage()).data;
                for (int k = 0; k < 6; k++) xr[1 + rng.nextInt(x.numel())] = Float.NaN;   // NaN wins, the last one
                xr[1 + rng.nextInt(x.numel())] = -0f;
                Tensor y1 = zeros(g.outputShape()), y2 = zeros(g.outputShape());
                CPU.maxPool2dForward(g, x, y1);
                REF.maxPool2dForward(g, x, y2);
                assertBitIdentical("max pool " + java.util.Arrays.toString(c), y1.toFloatArray(), y2.toFloatArray());
                Tensor dx1 = atOffset(randn(rng, x.shape()), 2), dx2 = zeros(x.shape());
                CPU.maxPool2dBackward(g, x, dy, dx1);
                REF.maxPool2dBackward(g, x, dy, dx2);
                assertClose("max pool backward " + java.util.Arrays.toString(c), dx1, dx2, 1e-6, 1e-6);
            }
        }

        @Test
        void averagePooling() {
            for (int[] c : CONFIGS) {
                if (c[10] != 1) continue;
                for (boolean include : new boolean[] {true, false}) {
                    PoolGeometry g = geometry(c, include);
                    Tensor x = randn(rng, c[0], c[1], c[2], c[3]), dy = randn(rng, g.outputShape());
                    Tensor y1 = zeros(g.outputShape()), y2 = zeros(g.outputShape());
                    CPU.avgPool2dForward(g, x, y1);
                    REF.avgPool2dForward(g, x, y2);
                    String what = "avg pool " + java.util.Arrays.toString(c) + " includePad=" + include;
                    assertClose(what, y1, y2, 1e-5, 1e-6);
                    Tensor dx1 = randn(rng, x.shape()), dx2 = zeros(x.shape());
                    CPU.avgPool2dBackward(g, dy, dx1);
                    REF.avgPool2dBackward(g, dy, dx2);
                    assertClose(what + " backward", dx1, dx2, 1e-5, 1e-6);
                }
            }
        }

        @Test
        void adaptiveAveragePooling() {
            int[][] configs = {{7, 7, 3, 3}, {5, 5, 5, 5}, {10, 6, 4, 4}, {9, 9, 1, 1}, {3, 3, 5, 5}, {56, 56, 1, 1}};
            for (int[] c : configs) {
                int planes = 6, h = c[0], w = c[1], oh = c[2], ow = c[3];
                Tensor x = atOffset(randn(rng, planes, h, w), 1), dy = randn(rng, planes, oh, ow);
                Tensor y1 = zeros(planes, oh, ow), y2 = zeros(planes, oh, ow);
                CPU.adaptiveAvgPool2dForward(planes, h, w, oh, ow, x, y1);
                REF.adaptiveAvgPool2dForward(planes, h, w, oh, ow, x, y2);
                assertClose("adaptive " + java.util.Arrays.toString(c), y1, y2, 1e-5, 1e-6);
                Tensor dx1 = randn(rng, planes, h, w), dx2 = zeros(planes, h, w);
                CPU.adaptiveAvgPool2dBackward(planes, h, w, oh, ow, dy, dx1);
                REF.adaptiveAvgPool2dBackward(planes, h, w, oh, ow, dy, dx2);
                assertClose("adaptive backward " + java.util.Arrays.toString(c), dx1, dx2, 1e-5, 1e-6);
            }
        }
    }
}
