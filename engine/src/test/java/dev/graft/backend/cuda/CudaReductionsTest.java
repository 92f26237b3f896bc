package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's sum and softmax kernels against the CPU backend: full and partial reductions in
 * every launch shape (one thread or one block per output, chunked or not), empty and scalar shapes,
 * NaN and infinities, and softmax / log-softmax forward and backward over rows and columns.
 */
class CudaReductionsTest {
    private final Random rng = new Random(5);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    private float[] randn(int n, float mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = mean + (float) rng.nextGaussian();
        return v;
    }

    // ---------------------------------------------------------------- sum

    /**
     * Sums x of shape over the dimensions in {@code reduce} (kept with size 1 in the output, as
     * keepdim) on both backends. The CUDA output starts as garbage, so the test also checks that every
     * output element is written.
     */
    private void checkSum(CudaBackend b, int[] shape, int[] reduce, float mean, float[] values) {
        float[] v = values != null ? values : randn(Shapes.numel(shape), mean);
        int[] outShape = shape.clone();
        for (int d : reduce) outShape[d] = 1;
        int[] outStrides = Shapes.contiguousStrides(outShape);
        for (int d : reduce) outStrides[d] = 0;
        Tensor x = Tensor.of(v, shape);
        Tensor expected = Tensor.zeros(CPU, outShape);
        CPU.sum(shape, x, outStrides, expected);
        Tensor actual = Tensor.zeros(b, outShape);
        b.fill(actual, 12345);
        b.sum(shape, x.to(b), outStrides, actual);
        assertClose("sum of " + Arrays.toString(shape) + " over " + Arrays.toString(reduce), actual, expected, 1e-5);
    }

    private void checkSum(CudaBackend b, int[] shape, int... reduce) {
        checkSum(b, shape, reduce, 0f, null);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void fullReductions(CudaBackend b) {
        checkSum(b, new int[] {5}, 0);                      // one thread
        checkSum(b, new int[] {1000}, 0);                   // one block
        checkSum(b, new int[] {200_003}, 0);                // 25 blocks, then the chunks in order
        checkSum(b, new int[] {7, 11, 13}, 0, 1, 2);
        checkSum(b, new int[] {50_001}, new int[] {0}, 1000f, null);   // large magnitude, relative tolerance
        checkSum(b, new int[] {}, new int[] {}, 0f, null);  // a scalar is its own sum
    }

    @ParameterizedTest
    @MethodSource("backends")
    void partialReductions(CudaBackend b) {
        checkSum(b, new int[] {4, 16, 7, 9}, 0, 2, 3);      // (N, C, H, W) -> (C): a bias gradient
        checkSum(b, new int[] {4, 16, 7, 9}, 2, 3);         // -> (N, C, 1, 1)
        checkSum(b, new int[] {3000, 40}, 0);               // innermost kept, long: chunked threads
        checkSum(b, new int[] {50, 40}, 0);                 // innermost kept, short
        checkSum(b, new int[] {40, 50}, 1);                 // rows: one block each
        checkSum(b, new int[] {40, 20}, 1);                 // short rows: one thread each
        checkSum(b, new int[] {3, 20_000}, 1);              // long rows: chunked blocks
        checkSum(b, new int[] {6, 5, 4}, 1);                // middle dimension
        checkSum(b, new int[] {6, 5, 4}, 0, 2);             // outer and inner
        checkSum(b, new int[] {2, 3, 2, 3, 2, 3}, 0, 2, 4); // alternating
        checkSum(b, new int[] {7, 9});                      // nothing reduced
        checkSum(b, new int[] {1, 33, 1}, 0, 2);            // size-1 dimensions
    }

    @ParameterizedTest
    @MethodSource("backends")
    void emptyShapesSumToZero(CudaBackend b) {
        Tensor out = Tensor.zeros(b, 5);
        b.fill(out, 3);
        b.sum(new int[] {0, 5}, Tensor.zeros(b, 0, 5), new int[] {0, 1}, out);
        assertThat(out.toFloatArray()).containsOnly(0f);
        Tensor scalar = Tensor.zeros(b, 1);
        b.fill(scalar, 3);
        b.sum(new int[] {0}, Tensor.zeros(b, 0), new int[] {0}, scalar);
        assertThat(scalar.toFloatArray()).containsExactly(0f);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void nanAndInfinityPropagateIntoTheirOutputs(CudaBackend b) {
        float[] v = randn(8 * 100, 0);
        v[3 * 100 + 17] = Float.NaN;
        v[5 * 100 + 2] = Float.POSITIVE_INFINITY;
        v[6 * 100 + 2] = Float.POSITIVE_INFINITY;
        v[6 * 100 + 9] = Float.NEGATIVE_INFINITY;
        checkSum(b, new int[] {8, 100}, new int[] {1}, 0, v);
        checkSum(b, new int[] {8, 100}, new int[] {0}, 0, v);
        checkSum(b, new int[] {800}, new int[] {0}, 0, v);
        Tensor out = Tensor.zeros(b, 8, 1);
        b.sum(new int[] {8, 100}, Tensor.of(v, 8, 100).to(b), new int[] {1, 0}, out);
        float[] s = out.toFloatArray();
        assertThat(s[3]).isNaN();
        assertThat(s[5]).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(s[6]).isNaN();
        assertThat(s[0]).isFinite();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void sumWritesAtTheOutputsOffset(CudaBackend b) {
        float[] v = randn(6 * 50, 0);
        Tensor base = Tensor.zeros(b, 20);
        b.fill(base, 9);
        Tensor out = new Tensor(base.storage(), new int[] {6}, new int[] {1}, 3);
        b.sum(new int[] {6, 50}, Tensor.of(v, 6, 50).to(b), new int[] {1, 0}, out);
        Tensor expected = Tensor.zeros(CPU, 6);
        CPU.sum(new int[] {6, 50}, Tensor.of(v, 6, 50), new int[] {1, 0}, expected);
        assertClose("sum at offset", out, expected, 1e-5);
        float[] all = base.toFloatArray();
        assertThat(all[2]).isEqualTo(9f);
        assertThat(all[9]).isEqualTo(9f);
    }

    // ---------------------------------------------------------------- softmax

    /** Softmax or log-softmax of x (outer, n, inner) and its gradient for a random dy, on both backends. */
    private void checkSoftmax(CudaBackend b, String what, int outer, int n, int inner, float[] x) {
        int[] shape = {outer, n, inner};
        Tensor xc = Tensor.of(x, shape), dyc = Tensor.of(randn(x.length, 0), shape);
        for (boolean log : new boolean[] {false, true}) {
            String name = (log ? "log-softmax " : "softmax ") + what;
            Tensor yc = Tensor.zeros(CPU, shape), yg = Tensor.zeros(b, shape);
            CPU.softmax(xc, yc, outer, n, inner, log);
            b.softmax(xc.to(b), yg, outer, n, inner, log);
            assertClose(name, yg, yc, 1e-5);
            // The gradient from the CPU's y, so that it is checked on its own.
            Tensor dxc = Tensor.zeros(CPU, shape), dxg = Tensor.zeros(b, shape);
            CPU.softmaxBackward(yc, dyc, dxc, outer, n, inner, log);
            b.softmaxBackward(yc.to(b), dyc.to(b), dxg, outer, n, inner, log);
            assertClose(name + " backward", dxg, dxc, 1e-5);
        }
    }

    private float[] scaled(int count, float scale) {
        float[] v = randn(count, 0);
        for (int i = 0; i < count; i++) v[i] *= scale;
        return v;
    }

    @ParameterizedTest
    @MethodSource("backends")
    void softmaxOverRowsAndColumns(CudaBackend b) {
        checkSoftmax(b, "short rows", 7, 10, 1, scaled(70, 3));
        checkSoftmax(b, "long rows", 3, 300, 1, scaled(900, 3));
        checkSoftmax(b, "columns", 2, 5, 13, scaled(130, 3));
        checkSoftmax(b, "long columns", 1, 200, 3, scaled(600, 3));
        checkSoftmax(b, "one element", 4, 1, 1, scaled(4, 3));
        checkSoftmax(b, "large logits", 5, 129, 1, scaled(5 * 129, 200));   // exp would overflow without the max
        checkSoftmax(b, "large logits in columns", 3, 9, 4, scaled(108, 200));
    }

    @ParameterizedTest
    @MethodSource("backends")
    void softmaxHandlesInfinitiesAndNaNLikeTheCpu(CudaBackend b) {
        for (int n : new int[] {12, 150}) {   // thread and block kernels
            float[] x = scaled(4 * n, 2);
            x[1] = Float.NEGATIVE_INFINITY;                  // a masked logit: probability 0
            x[2] = Float.NEGATIVE_INFINITY;
            Arrays.fill(x, n, 2 * n, Float.NEGATIVE_INFINITY); // a fully masked row: NaN
            x[2 * n + 5] = Float.NaN;                        // NaN spreads over its row
            x[3 * n + 4] = Float.POSITIVE_INFINITY;          // +inf: NaN (inf − inf)
            checkSoftmax(b, "special rows of " + n, 4, n, 1, x);
            float[] columns = scaled(2 * n * 3, 2);
            columns[3 * 2 + 1] = Float.NaN;
            columns[3 * 5] = Float.NEGATIVE_INFINITY;
            checkSoftmax(b, "special columns of " + n, 2, n, 3, columns);
        }
        Tensor empty = Tensor.zeros(b, 0);
        b.softmax(empty, empty, 0, 5, 1, false);
        b.softmax(empty, empty, 2, 0, 3, true);
        b.softmaxBackward(empty, empty, empty, 2, 5, 0, false);
    }
}
