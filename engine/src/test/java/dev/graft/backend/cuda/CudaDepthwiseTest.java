package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.backend.ConvGeometry;
import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Depthwise convolution of the CUDA backend ({@link CudaDepthwise}) against the CPU backend's. */
class CudaDepthwiseTest {
    private final Random rng = new Random(3);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    /**
     * {n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw}: kernels 3 and 5, stride 1 and 2, padding,
     * dilation, odd sizes, 1×1, 7×7 (several tap groups), rectangular kernels and strides, channels
     * 1 to 40, and planes large enough that the weight gradient splits into chunks.
     */
    private static final int[][] GEOMETRIES = {
        {2, 3, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1},
        {1, 5, 10, 9, 3, 3, 2, 2, 1, 1, 1, 1},
        {3, 2, 11, 13, 5, 5, 1, 1, 2, 2, 1, 1},
        {2, 4, 12, 11, 5, 5, 2, 2, 2, 2, 1, 1},
        {1, 3, 13, 12, 3, 3, 1, 1, 2, 2, 2, 2},
        {2, 2, 14, 15, 3, 3, 2, 2, 2, 1, 2, 3},
        {1, 40, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1},
        {2, 1, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1},
        {1, 2, 9, 8, 7, 7, 1, 1, 3, 3, 1, 1},
        {2, 3, 8, 10, 3, 5, 1, 2, 0, 2, 1, 1},
        {1, 2, 6, 7, 3, 3, 3, 2, 0, 0, 1, 1},
        {2, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1},
        {3, 2, 33, 31, 5, 5, 1, 1, 2, 2, 1, 1},
        {1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
    };

    private static ConvGeometry geometry(int[] s) {
        return ConvGeometry.of(new int[] {s[0], s[1], s[2], s[3]}, new int[] {s[1], 1, s[4], s[5]}, new int[] {s[6], s[7]},
                new int[] {s[8], s[9]}, new int[] {s[10], s[11]}, s[1]);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void forwardMatchesTheCpuBackend(CudaBackend b) {
        for (int[] s : GEOMETRIES) {
            ConvGeometry g = geometry(s);
            assertThat(g.isDepthwise()).isTrue();
            Tensor x = randn(rng, g.n(), g.inC(), g.h(), g.w()), w = randn(rng, g.weightShape()), bias = randn(rng, g.outC());
            for (boolean withBias : new boolean[] {true, false}) {
                Tensor y = Tensor.zeros(CPU, g.outputShape()), gy = Tensor.full(CPU, 7, g.outputShape()).to(b);
                CPU.conv2dForward(g, x, w, withBias ? bias : null, y);
                CudaDepthwise.forward(b, g, x.to(b), w.to(b), withBias ? bias.to(b) : null, gy);
                assertClose("depthwise forward " + g + " bias " + withBias, gy, y, 1e-5);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void dataGradientMatchesTheCpuBackend(CudaBackend b) {
        for (int[] s : GEOMETRIES) {
            ConvGeometry g = geometry(s);
            Tensor dy = randn(rng, g.outputShape()), w = randn(rng, g.weightShape());
            int[] xs = {g.n(), g.inC(), g.h(), g.w()};
            Tensor dx = Tensor.zeros(CPU, xs), gdx = Tensor.full(CPU, 7, xs).to(b);
            CPU.conv2dBackwardData(g, dy, w, dx);
            CudaDepthwise.backwardData(b, g, dy.to(b), w.to(b), gdx);
            assertClose("depthwise backward data " + g, gdx, dx, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void weightGradientMatchesTheCpuBackend(CudaBackend b) {
        for (int[] s : GEOMETRIES) {
            ConvGeometry g = geometry(s);
            Tensor x = randn(rng, g.n(), g.inC(), g.h(), g.w()), dy = randn(rng, g.outputShape());
            Tensor dw = Tensor.zeros(CPU, g.weightShape()), gdw = Tensor.full(CPU, 7, g.weightShape()).to(b);
            CPU.conv2dBackwardWeight(g, x, dy, dw);
            CudaDepthwise.backwardWeight(b, g, x.to(b), dy.to(b), gdw);
            assertClose("depthwise backward weight " + g, gdw, dw, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void theWeightGradientIsReproducible(CudaBackend b) {
        ConvGeometry g = geometry(GEOMETRIES[12]);
        Tensor x = randn(rng, g.n(), g.inC(), g.h(), g.w()).to(b), dy = randn(rng, g.outputShape()).to(b);
        Tensor first = Tensor.zeros(b, g.weightShape()), second = Tensor.zeros(b, g.weightShape());
        CudaDepthwise.backwardWeight(b, g, x, dy, first);
        CudaDepthwise.backwardWeight(b, g, x, dy, second);
        assertThat(second.toFloatArray()).isEqualTo(first.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void emptyBatchesGiveZeroWeightGradients(CudaBackend b) {
        ConvGeometry g = ConvGeometry.of(new int[] {0, 3, 6, 6}, new int[] {3, 1, 3, 3}, new int[] {1, 1}, new int[] {1, 1},
                new int[] {1, 1}, 3);
        Tensor x = Tensor.zeros(b, 0, 3, 6, 6), y = Tensor.zeros(b, g.outputShape()), w = Tensor.zeros(b, g.weightShape());
        CudaDepthwise.forward(b, g, x, w, null, y);
        CudaDepthwise.backwardData(b, g, y, w, x);
        Tensor dw = Tensor.full(CPU, 7, g.weightShape()).to(b);
        CudaDepthwise.backwardWeight(b, g, x, y, dw);
        assertClose("weight gradient of an empty batch", dw, Tensor.zeros(CPU, g.weightShape()), 0);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void groupedConvolutionsAreRefused(CudaBackend b) {
        ConvGeometry g = ConvGeometry.of(new int[] {1, 4, 5, 5}, new int[] {4, 2, 3, 3}, new int[] {1, 1}, new int[] {1, 1},
                new int[] {1, 1}, 2);
        Tensor x = Tensor.zeros(b, 1, 4, 5, 5);
        assertThatThrownBy(() -> CudaDepthwise.forward(b, g, x, x, null, x)).isInstanceOf(GraftException.class)
                .hasMessageContaining("depthwise forward: convolution 4 -> 4 channels in 2 groups is not depthwise");
    }
}
