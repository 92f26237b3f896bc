package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.graft.backend.cuda.CudaGemm.Kernel;
import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's GEMM against the CPU backend: each of Graft's four kernels with every transpose
 * pair and edge sizes, batches with broadcast operands, alpha/beta (beta = 0 must not read C),
 * split-K, the FP32/TF32 switch; and cuBLAS's row-major-to-column-major argument mapping.
 */
class CudaGemmTest {
    private final Random rng = new Random(11);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    /** FP32 kernels: as close as two FP32 summation orders. */
    static final double FP32_TOL = 1e-4;

    /**
     * TF32 (cvt.rna) keeps 10 mantissa bits: each factor is off by a uniform relative error of at
     * most u = 2⁻¹¹, so a product a·b by about 0.82·u·|a·b| (one standard deviation) and a sum of
     * products by 0.82·u·√(Σ (a·b)²). The tolerance is eight such deviations, per element, from
     * {@code sumSquares} = Σ (a·b)² (the same operation on the squared inputs), plus FP32's summation
     * slack. A missing or extra product (of size ~|a·b|) is far outside it for any k used here.
     */
    static final double TF32_SIGMAS = 8 * 0.82 / 2048;

    static void assertTf32Close(String what, Tensor actual, Tensor expected, Tensor sumSquares, double alpha) {
        float[] a = actual.toFloatArray(), e = expected.toFloatArray(), s = sumSquares.toFloatArray();
        assertThat(a.length).as(what + ": element count").isEqualTo(e.length);
        double scale = 1;
        for (float v : e) if (Float.isFinite(v)) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < a.length; i++) {
            double root = Math.abs(alpha) * Math.sqrt(s[i]), err = Math.abs(a[i] - e[i]);
            double tol = TF32_SIGMAS * root + FP32_TOL * scale;
            if (!(err <= tol))
                fail(what + ": element " + i + " is " + a[i] + ", expected " + e[i] + " (TF32 tolerance " + tol + ")");
        }
    }

    static Tensor squared(Tensor t) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] *= v[i];
        return Tensor.of(v, t.shape());
    }

    private static Tensor nans(int... shape) {
        return Tensor.full(CPU, Float.NaN, shape);
    }

    /** Runs one product on the CPU and on kernel {@code kernel}, from the same inputs; C starts as {@code c0}. */
    private void check(CudaBackend b, Kernel kernel, boolean ta, boolean tb, int batch, int m, int n, int k, double alpha,
                       int sa, int sb, double beta, Tensor c0, int sc) {
        Tensor a = randn(rng, Math.max(1, (batch - 1) * sa + m * k));
        Tensor bm = randn(rng, Math.max(1, (batch - 1) * sb + k * n));
        Tensor expected = c0.copy();
        CPU.gemm(ta, tb, batch, m, n, k, alpha, a, sa, bm, sb, beta, expected, sc);
        Tensor actual = c0.to(b);
        if (kernel == null) b.gemm(ta, tb, batch, m, n, k, alpha, a.to(b), sa, bm.to(b), sb, beta, actual, sc);
        else CudaGemm.gemm(b, kernel, ta, tb, batch, m, n, k, alpha, a.to(b), sa, bm.to(b), sb, beta, actual, sc);
        String what = (kernel == null ? "default" : kernel) + (ta ? " A^T" : " A") + (tb ? " B^T" : " B") + " batch " + batch
                + " m" + m + " n" + n + " k" + k;
        boolean tf32 = kernel == null ? CudaGemm.tf32Matmul() : kernel.tf32;
        if (!tf32) {
            assertClose(what, actual, expected, FP32_TOL);
            return;
        }
        Tensor squares = Tensor.zeros(CPU, c0.shape());
        CPU.gemm(ta, tb, batch, m, n, k, 1, squared(a), sa, squared(bm), sb, 0, squares, sc);
        if (sc == 0 && batch > 1) {   // C accumulated over the batch: each product's deviations add up
            float[] q = squares.toFloatArray();
            for (int i = 0; i < q.length; i++) q[i] *= batch;
            squares = Tensor.of(q, c0.shape());
        }
        assertTf32Close(what, actual, expected, squares, alpha);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void everyKernelEveryTransposeEdgeSizes(CudaBackend b) {
        int[][] sizes = {{1, 1, 1}, {7, 33, 65}, {130, 65, 7}, {33, 130, 1}, {65, 7, 130}};
        for (Kernel kernel : Kernel.values())
            for (int t = 0; t < 4; t++)
                for (int[] s : sizes) {
                    int m = s[0], n = s[1], k = s[2];
                    check(b, kernel, (t & 1) != 0, (t & 2) != 0, 1, m, n, k, 1, 0, 0, 0, nans(m, n), 0);
                }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void largeTilesWithSeveralBlocksAndKSteps(CudaBackend b) {
        check(b, Kernel.SIMT_128, false, false, 1, 257, 200, 100, 1, 0, 0, 0, nans(257, 200), 0);
        check(b, Kernel.TF32_128, true, true, 1, 200, 257, 70, 1, 0, 0, 0, nans(200, 257), 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void batchesWithBroadcastOperands(CudaBackend b) {
        int batch = 3, m = 9, n = 17, k = 13;
        for (Kernel kernel : Kernel.values()) {
            // A broadcast (stride 0), B and C per batch
            check(b, kernel, false, true, batch, m, n, k, 1, 0, n * k, 0, nans(batch * m * n), m * n);
            // B broadcast, A transposed
            check(b, kernel, true, false, batch, m, n, k, 1, m * k, 0, 0, nans(batch * m * n), m * n);
        }
        // C of stride 0: every product accumulates into it, one after the other
        check(b, Kernel.SIMT_64, false, false, batch, m, n, k, 1, m * k, k * n, 1, randn(rng, m, n), 0);
        check(b, Kernel.TF32_64, false, false, batch, m, n, k, 0.5, m * k, k * n, 0.25, randn(rng, m, n), 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void alphaBetaAndCNotReadWhenBetaIsZero(CudaBackend b) {
        int m = 20, n = 70, k = 9;
        for (Kernel kernel : new Kernel[] {Kernel.SIMT_64, Kernel.TF32_128}) {
            check(b, kernel, false, false, 2, m, n, k, 0.5, m * k, k * n, -2, randn(rng, 2 * m * n), m * n);
            check(b, kernel, true, false, 1, m, n, k, -1.5, 0, 0, 1, randn(rng, m, n), 0);
            check(b, kernel, false, true, 1, m, n, k, 2, 0, 0, 0, nans(m, n), 0);   // beta = 0: the NaNs vanish
        }
        // k = 0: C = beta·C; alpha = 0: A and B are not read
        check(b, Kernel.SIMT_128, false, false, 1, 5, 6, 0, 1, 0, 0, 0.5, randn(rng, 5, 6), 0);
        check(b, Kernel.SIMT_128, false, false, 1, 5, 6, 0, 1, 0, 0, 0, nans(5, 6), 0);
        Tensor a = nans(5 * 4), bm = randn(rng, 4 * 6), c = randn(rng, 5, 6), expected = c.copy();
        CPU.gemm(false, false, 1, 5, 6, 4, 0, a, 0, bm, 0, 3, expected, 0);
        Tensor actual = c.to(b);
        CudaGemm.gemm(b, Kernel.SIMT_64, false, false, 1, 5, 6, 4, 0, a.to(b), 0, bm.to(b), 0, 3, actual, 0);
        assertClose("alpha = 0 with NaN in A", actual, expected, 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void longKIsSplitAndAddedInOrder(CudaBackend b) {
        int m = 7, n = 9, k = 1500;
        assertThat(CudaGemm.splits(1, k, b.gpu().multiprocessors(), (long) m * n)).isGreaterThan(1);
        for (Kernel kernel : new Kernel[] {Kernel.SIMT_64, Kernel.TF32_64}) {
            check(b, kernel, false, false, 1, m, n, k, 1, 0, 0, 0, nans(m, n), 0);
            check(b, kernel, true, true, 2, m, n, k, 0.5, m * k, k * n, 2, randn(rng, 2 * m * n), m * n);
        }
        // the same inputs twice: bit-identical
        Tensor a = randn(rng, m * k).to(b), bm = randn(rng, k * n).to(b);
        Tensor c1 = Tensor.zeros(b, m, n), c2 = Tensor.zeros(b, m, n);
        CudaGemm.gemm(b, Kernel.SIMT_64, false, false, 1, m, n, k, 1, a, 0, bm, 0, 0, c1, 0);
        CudaGemm.gemm(b, Kernel.SIMT_64, false, false, 1, m, n, k, 1, a, 0, bm, 0, 0, c2, 0);
        assertThat(c1.toFloatArray()).isEqualTo(c2.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void fullFp32ByDefaultTf32WhenAsked(CudaBackend b) {
        int m = 40, n = 70, k = 300;
        assertThat(CudaGemm.tf32Matmul()).isFalse();
        check(b, null, false, true, 1, m, n, k, 1, 0, 0, 0, nans(m, n), 0);
        Tensor a = randn(rng, m * k), bm = randn(rng, k * n);
        Tensor fp32 = Tensor.zeros(b, m, n), tf32 = Tensor.zeros(b, m, n);
        b.gemm(false, false, 1, m, n, k, 1, a.to(b), 0, bm.to(b), 0, 0, fp32, 0);
        System.setProperty(CudaGemm.TF32_PROPERTY, "true");
        try {
            b.gemm(false, false, 1, m, n, k, 1, a.to(b), 0, bm.to(b), 0, 0, tf32, 0);
        } finally {
            System.clearProperty(CudaGemm.TF32_PROPERTY);
        }
        Tensor expected = Tensor.zeros(CPU, m, n), squares = Tensor.zeros(CPU, m, n);
        CPU.gemm(false, false, 1, m, n, k, 1, a, 0, bm, 0, 0, expected, 0);
        CPU.gemm(false, false, 1, m, n, k, 1, squared(a), 0, squared(bm), 0, 0, squares, 0);
        assertTf32Close("tf32 matmul", tf32, expected, squares, 1);
        assertClose("fp32 matmul", fp32, expected, FP32_TOL);
        assertThat(tf32.toFloatArray()).as("TF32 rounds: not the FP32 result").isNotEqualTo(fp32.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void emptyProductsDoNothing(CudaBackend b) {
        Tensor c = randn(rng, 4, 3);
        Tensor actual = c.to(b);
        b.gemm(false, false, 0, 4, 3, 5, 1, Tensor.zeros(b, 1), 0, Tensor.zeros(b, 1), 0, 0, actual, 0);
        b.gemm(false, false, 1, 0, 3, 5, 1, Tensor.zeros(b, 1), 0, Tensor.zeros(b, 15), 0, 0, actual, 0);
        assertClose("batch 0 / m 0", actual, c, 0);
    }

    @Test
    void kernelChoiceAndSplits() {
        assertThat(Kernel.choose(false, 2000, 2000, 1, 132)).isEqualTo(Kernel.SIMT_128);
        assertThat(Kernel.choose(false, 1000, 1000, 1, 132)).isEqualTo(Kernel.SIMT_64);   // 64 large tiles for 132 SMs
        assertThat(Kernel.choose(false, 64, 100000, 1, 132)).isEqualTo(Kernel.SIMT_64);
        assertThat(Kernel.choose(false, 300, 300, 1, 132)).isEqualTo(Kernel.SIMT_64);   // 9 large tiles: too few blocks
        assertThat(Kernel.choose(true, 2048, 2048, 1, 132)).isEqualTo(Kernel.TF32_128);
        assertThat(Kernel.choose(true, 32, 2048, 8, 132)).isEqualTo(Kernel.TF32_64);
        assertThat(Kernel.SIMT_128.blocks(129, 256)).isEqualTo(4);
        assertThat(CudaGemm.splits(200, 100000, 132, 1 << 20)).isEqualTo(1);           // enough blocks
        assertThat(CudaGemm.splits(1, 300, 132, 100)).isEqualTo(1);                    // short k
        assertThat(CudaGemm.splits(4, 100000, 132, 4096)).isEqualTo(CudaGemm.MAX_SPLITS);
        assertThat(CudaGemm.splits(1, 1024, 132, 4096)).isEqualTo(4);                  // at least 256 of k each
        assertThat(CudaGemm.splits(1, 100000, 132, CudaGemm.MAX_WORKSPACE / 3)).isEqualTo(3);
    }

    /**
     * The row-major → column-major mapping cuBLAS gets, checked by running the BLAS definition of a
     * column-major SGEMM on our row-major buffers with the mapped arguments.
     */
    @Test
    void cublasArgumentsComputeTheRowMajorProduct() {
        int m = 5, n = 7, k = 3;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            float[] a = randn(rng, m * k).toFloatArray(), bm = randn(rng, k * n).toFloatArray();
            float[] c = new float[m * n];
            CuBlas.ColumnMajor cm = CuBlas.columnMajor(ta, tb, m, n, k);
            assertThat(cm.m()).isEqualTo(n);
            assertThat(cm.n()).isEqualTo(m);
            // cuBLAS's A is our B, its B our A
            columnMajorSgemm(cm.transa(), cm.transb(), cm.m(), cm.n(), cm.k(), bm, cm.lda(), a, cm.ldb(), c, cm.ldc());
            Tensor expected = Tensor.zeros(CPU, m, n);
            CPU.gemm(ta, tb, 1, m, n, k, 1, Tensor.of(a, m * k), 0, Tensor.of(bm, k * n), 0, 0, expected, 0);
            assertClose("cuBLAS mapping " + (ta ? "T" : "N") + (tb ? "T" : "N"), Tensor.of(c, m, n), expected, 1e-6);
        }
        assertThat(CuBlas.columnMajor(false, false, 5, 7, 3)).isEqualTo(new CuBlas.ColumnMajor(0, 0, 7, 5, 3, 7, 3, 7));
        assertThat(CuBlas.columnMajor(true, true, 5, 7, 3)).isEqualTo(new CuBlas.ColumnMajor(1, 1, 7, 5, 3, 3, 5, 7));
    }

    /** C = op(A)·op(B), column-major with leading dimensions, as the BLAS reference defines sgemm. */
    private static void columnMajorSgemm(int transa, int transb, int m, int n, int k, float[] a, int lda, float[] b, int ldb,
                                         float[] c, int ldc) {
        assertThat(lda).isGreaterThanOrEqualTo(Math.max(1, transa == CuBlas.CUBLAS_OP_N ? m : k));
        assertThat(ldb).isGreaterThanOrEqualTo(Math.max(1, transb == CuBlas.CUBLAS_OP_N ? k : n));
        assertThat(ldc).isGreaterThanOrEqualTo(Math.max(1, m));
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    float av = transa == CuBlas.CUBLAS_OP_N ? a[i + p * lda] : a[p + i * lda];
                    float bv = transb == CuBlas.CUBLAS_OP_N ? b[p + j * ldb] : b[j + p * ldb];
                    s += av * bv;
                }
                c[i + j * ldc] = (float) s;
            }
    }

    @Test
    void theEmulationUsesGraftsKernels() {
        CudaLibraries none = CudaLibraries.none("emulation");
        assertThat(none.cublas()).isNull();
        assertThat(none.cudnn()).isNull();
        assertThat(none.summary()).isEqualTo("gemm, conv: Graft's kernels (emulation)");
    }
}
