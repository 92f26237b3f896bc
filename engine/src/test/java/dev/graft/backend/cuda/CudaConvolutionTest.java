package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaGemmTest.FP32_TOL;
import static dev.graft.backend.cuda.CudaGemmTest.assertTf32Close;
import static dev.graft.backend.cuda.CudaGemmTest.squared;
import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.backend.ConvGeometry;
import dev.graft.backend.cuda.CudaGemm.Kernel;
import dev.graft.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's implicit-GEMM convolutions against the CPU backend: forward (bias or none),
 * data gradient and weight gradient, on each of the four kernels (exact FP32 within 1e-4, TF32
 * within a per-element bound), for strides, padding, dilation, groups, 1×1, 3×3, 7×7 and
 * rectangular kernels on odd sizes; split-K of the weight gradient; the TF32 default and its
 * switch; and the pure parts of the cuDNN binding.
 */
class CudaConvolutionTest {
    private final Random rng = new Random(5);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    private static ConvGeometry geometry(int n, int inC, int h, int w, int outC, int kh, int kw, int sh, int sw, int ph, int pw,
                                         int dh, int dw, int groups) {
        return ConvGeometry.of(new int[] {n, inC, h, w}, new int[] {outC, inC / groups, kh, kw}, new int[] {sh, sw},
                new int[] {ph, pw}, new int[] {dh, dw}, groups);
    }

    /** Small shapes covering the index math: odd sizes, strides, padding, dilation, groups, kernel sizes. */
    static final List<ConvGeometry> GEOMETRIES = List.of(
            geometry(2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),      // 3x3 same padding
            geometry(2, 4, 7, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2),      // stride 2, groups 2
            geometry(1, 4, 11, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1),     // dilation 2
            geometry(2, 6, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2),      // 1x1, groups 2
            geometry(2, 4, 7, 7, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1),      // 1x1 stride 2 (a downsampling shortcut)
            geometry(1, 3, 13, 13, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1),    // 7x7 stride 2 pad 3 (a stem)
            geometry(2, 4, 8, 7, 6, 3, 1, 2, 1, 1, 0, 1, 1, 2));     // 3x1, strides (2, 1)

    private static Tensor nans(int... shape) {
        return Tensor.full(CPU, Float.NaN, shape);
    }

    /** The three passes of g on the CPU and on {@code kernel} (null: the backend's dispatch), compared. */
    private void checkAll(CudaBackend b, ConvGeometry g, Kernel kernel, boolean bias) {
        Tensor x = randn(rng, g.n(), g.inC(), g.h(), g.w()), w = randn(rng, g.weightShape());
        Tensor bs = bias ? randn(rng, g.outC()) : null, dy = randn(rng, g.outputShape());
        boolean tf32 = kernel == null ? CudaConvolution.tf32Conv() : kernel.tf32;
        String what = (kernel == null ? "dispatch" : kernel) + " " + g;

        Tensor y = nans(g.outputShape());
        CPU.conv2dForward(g, x, w, bs, y);
        Tensor yc = nans(g.outputShape()).to(b);
        if (kernel == null) b.conv2dForward(g, x.to(b), w.to(b), bs == null ? null : bs.to(b), yc);
        else CudaConvolution.forward(b, g, kernel, x.to(b), w.to(b), bs == null ? null : bs.to(b), yc);
        Tensor ySq = tf32 ? nans(g.outputShape()) : null;
        if (tf32) CPU.conv2dForward(g, squared(x), squared(w), null, ySq);
        compare("forward " + what, yc, y, ySq);

        Tensor dx = nans(g.n(), g.inC(), g.h(), g.w());
        CPU.conv2dBackwardData(g, dy, w, dx);
        Tensor dxc = nans(g.n(), g.inC(), g.h(), g.w()).to(b);
        if (kernel == null) b.conv2dBackwardData(g, dy.to(b), w.to(b), dxc);
        else CudaConvolution.backwardData(b, g, kernel, dy.to(b), w.to(b), dxc);
        Tensor dxSq = tf32 ? nans(g.n(), g.inC(), g.h(), g.w()) : null;
        if (tf32) CPU.conv2dBackwardData(g, squared(dy), squared(w), dxSq);
        compare("data gradient " + what, dxc, dx, dxSq);

        Tensor dw = nans(g.weightShape());
        CPU.conv2dBackwardWeight(g, x, dy, dw);
        Tensor dwc = nans(g.weightShape()).to(b);
        if (kernel == null) b.conv2dBackwardWeight(g, x.to(b), dy.to(b), dwc);
        else CudaConvolution.backwardWeight(b, g, kernel, x.to(b), dy.to(b), dwc);
        Tensor dwSq = tf32 ? nans(g.weightShape()) : null;
        if (tf32) CPU.conv2dBackwardWeight(g, squared(x), squared(dy), dwSq);
        compare("weight gradient " + what, dwc, dw, dwSq);
    }

    private static void compare(String what, Tensor actual, Tensor expected, Tensor sumSquares) {
        if (sumSquares == null) assertClose(what, actual, expected, FP32_TOL);
        else assertTf32Close(what, actual, expected, sumSquares, 1);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void everyKernelEveryGeometry(CudaBackend b) {
        for (ConvGeometry g : GEOMETRIES)
            for (Kernel kernel : Kernel.values()) checkAll(b, g, kernel, g.groups() == 1);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void biasOrNoneOnEveryKernel(CudaBackend b) {
        ConvGeometry g = GEOMETRIES.get(1);
        for (Kernel kernel : Kernel.values()) checkAll(b, g, kernel, true);
        g = GEOMETRIES.get(0);
        for (Kernel kernel : Kernel.values()) checkAll(b, g, kernel, false);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void longBatchSumsAreSplitAndAddedInOrder(CudaBackend b) {
        ConvGeometry g = geometry(2, 4, 24, 24, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);   // k of the weight gradient: 2·576
        long[] s = CudaConvolution.gemmShape(CudaConvolution.Pass.BACKWARD_WEIGHT, g);
        assertThat(CudaGemm.splits(Kernel.SIMT_64.blocks(s[0], s[1]), s[2], b.gpu().multiprocessors(), 4 * s[1]))
                .isGreaterThan(1);
        for (Kernel kernel : new Kernel[] {Kernel.SIMT_64, Kernel.TF32_64}) checkAll(b, g, kernel, true);
        Tensor x = randn(rng, 2, 4, 24, 24).to(b), dy = randn(rng, g.outputShape()).to(b);
        Tensor d1 = Tensor.zeros(b, g.weightShape()), d2 = Tensor.zeros(b, g.weightShape());
        CudaConvolution.backwardWeight(b, g, Kernel.SIMT_64, x, dy, d1);
        CudaConvolution.backwardWeight(b, g, Kernel.SIMT_64, x, dy, d2);
        assertThat(d1.toFloatArray()).as("deterministic").isEqualTo(d2.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void tf32ByDefaultFullFp32WhenSwitchedOff(CudaBackend b) {
        assertThat(CudaConvolution.tf32Conv()).isTrue();
        ConvGeometry g = GEOMETRIES.get(2);
        checkAll(b, g, null, true);
        System.setProperty(CudaConvolution.TF32_PROPERTY, "false");
        try {
            checkAll(b, g, null, true);
            for (CudaConvolution.Pass pass : CudaConvolution.Pass.values())
                assertThat(CudaConvolution.kernel(b, pass, g, CudaConvolution.tf32Conv()).tf32).isFalse();
        } finally {
            System.clearProperty(CudaConvolution.TF32_PROPERTY);
        }
        Tensor x = randn(rng, g.n(), g.inC(), g.h(), g.w()).to(b), w = randn(rng, g.weightShape()).to(b);
        Tensor tf32 = Tensor.zeros(b, g.outputShape()), fp32 = Tensor.zeros(b, g.outputShape());
        b.conv2dForward(g, x, w, null, tf32);
        CudaConvolution.forward(b, g, Kernel.SIMT_64, x, w, null, fp32);
        assertThat(tf32.toFloatArray()).as("the default rounds to TF32").isNotEqualTo(fp32.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void anEmptyBatchGivesAZeroWeightGradient(CudaBackend b) {
        ConvGeometry g = geometry(0, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1);
        Tensor dw = nans(g.weightShape()).to(b);
        b.conv2dBackwardWeight(g, Tensor.zeros(b, 0, 4, 5, 5), Tensor.zeros(b, g.outputShape()), dw);
        assertClose("empty batch", dw, Tensor.zeros(CPU, g.weightShape()), 0);
        Tensor y = Tensor.zeros(b, g.outputShape());
        b.conv2dForward(g, Tensor.zeros(b, 0, 4, 5, 5), dw, null, y);   // nothing to do, no failure
    }

    @Test
    void gemmShapesOfThePasses() {
        ConvGeometry g = geometry(2, 4, 7, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2);   // 4x4 output
        assertThat(CudaConvolution.gemmShape(CudaConvolution.Pass.FORWARD, g)).containsExactly(3, 32, 18);
        assertThat(CudaConvolution.gemmShape(CudaConvolution.Pass.BACKWARD_DATA, g)).containsExactly(2, 98, 27);
        assertThat(CudaConvolution.gemmShape(CudaConvolution.Pass.BACKWARD_WEIGHT, g)).containsExactly(3, 18, 32);
        assertThat(CudaConvolution.dims(g)).containsExactly(2, 4, 7, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 4, 4);
        assertThat(CudaConvolution.name(CudaConvolution.Pass.BACKWARD_WEIGHT, Kernel.TF32_64)).isEqualTo("conv_bwd_weight_tf32_64_f32");
    }

    // ---------------------------------------------------------------- cuDNN binding, without a GPU

    @Test
    void cudnnDescriptorsOfAGroupedStridedDilatedConvolution() {
        ConvGeometry g = geometry(3, 8, 15, 11, 12, 3, 5, 2, 1, 1, 2, 2, 1, 4);
        int[][] d = CuDnn.descriptorDims(g);
        assertThat(d[0]).containsExactly(3, 8, 15, 11);                 // x
        assertThat(d[1]).containsExactly(3, 12, g.oh(), g.ow());         // y
        assertThat(new int[] {g.oh(), g.ow()}).containsExactly(7, 11);
        assertThat(d[2]).containsExactly(12, 2, 3, 5);                  // filter: inC / groups
        assertThat(d[3]).containsExactly(1, 12, 1, 1);                  // bias
        assertThat(CuDnn.convolutionParams(g)).containsExactly(1, 2, 2, 1, 2, 1);
        assertThat(CuDnn.mathType(true)).isEqualTo(CuDnn.CUDNN_DEFAULT_MATH);
        assertThat(CuDnn.mathType(false)).isEqualTo(CuDnn.CUDNN_FMA_MATH);
        assertThat(CuDnn.version(91002)).isEqualTo("9.10.2");
        assertThat(CuDnn.version(8907)).isEqualTo("8.9.7");
    }

    @Test
    void cudnnPerfResultsLayoutAndChoice() {
        assertThat(CuDnn.PERF.byteSize()).isEqualTo(48);
        assertThat(CuDnn.PERF_STATUS).isEqualTo(4);
        assertThat(CuDnn.PERF_MEMORY).isEqualTo(16);
        assertThat(CuDnn.PERF_DETERMINISM).isEqualTo(24);
        assertThat(CuDnn.PERF_MATH).isEqualTo(28);
        assertThat(CuDnn.algorithmMath(true, 1)).isEqualTo(1);   // CUDNN_TENSOR_OP_MATH as reported
        assertThat(CuDnn.algorithmMath(false, 0)).isEqualTo(CuDnn.CUDNN_FMA_MATH);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment perf = arena.allocate(CuDnn.PERF, 4);
            // {algo, status, memory, determinism}, best first
            long[][] rows = {{6, 0, 4L << 30, 1}, {1, 0, 1000, 0}, {7, 9, 0, 1}, {0, 0, 0, 1}};
            for (int i = 0; i < rows.length; i++) {
                long at = i * CuDnn.PERF.byteSize();
                perf.set(ValueLayout.JAVA_INT, at + CuDnn.PERF_ALGO, (int) rows[i][0]);
                perf.set(ValueLayout.JAVA_INT, at + CuDnn.PERF_STATUS, (int) rows[i][1]);
                perf.set(ValueLayout.JAVA_LONG, at + CuDnn.PERF_MEMORY, rows[i][2]);
                perf.set(ValueLayout.JAVA_INT, at + CuDnn.PERF_DETERMINISM, (int) rows[i][3]);
            }
            // too much workspace, non-deterministic, failed: the deterministic one after them
            assertThat(CuDnn.pickAlgorithm(perf, 4, CuDnn.WORKSPACE_LIMIT)).isEqualTo(3);
            // without it, the first that succeeded within the limit
            assertThat(CuDnn.pickAlgorithm(perf, 3, CuDnn.WORKSPACE_LIMIT)).isEqualTo(1);
            assertThat(CuDnn.pickAlgorithm(perf, 1, CuDnn.WORKSPACE_LIMIT)).isEqualTo(-1);
        }
    }
}
