package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.backend.PoolGeometry;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Max, average and adaptive average pooling of the CUDA backend against the CPU backend. */
class CudaPoolingTest {
    private final Random rng = new Random(5);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    /**
     * Geometries: {n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil}. Odd sizes, 2×2/2 (disjoint),
     * 3×3/2 (overlapping), stride 1, rectangular kernels, padding, dilation, ceil mode.
     */
    private static final int[][] GEOMETRIES = {
        {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0},
        {1, 2, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, 0},
        {2, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},
        {1, 4, 10, 7, 3, 2, 2, 1, 1, 0, 1, 1, 1},
        {3, 1, 11, 13, 3, 3, 2, 2, 1, 1, 2, 2, 0},
        {1, 2, 9, 9, 3, 3, 3, 3, 0, 0, 1, 1, 1},
        {2, 2, 6, 13, 5, 5, 2, 3, 2, 2, 1, 1, 1},
        {1, 40, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0},
    };

    private static PoolGeometry geometry(int[] s, boolean countIncludePad) {
        return PoolGeometry.of(new int[] {s[0], s[1], s[2], s[3]}, new int[] {s[4], s[5]}, new int[] {s[6], s[7]},
                new int[] {s[8], s[9]}, new int[] {s[10], s[11]}, s[12] == 1, countIncludePad);
    }

    /** Values from a small integer range (many ties inside windows), a few NaN where asked. */
    private Tensor tiedInput(int[] shape, boolean nan) {
        int size = shape[0] * shape[1] * shape[2] * shape[3];
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = rng.nextInt(4) - 2;
        if (nan) for (int k = 0; k < Math.max(1, size / 20); k++) v[rng.nextInt(size)] = Float.NaN;
        return Tensor.of(v, shape);
    }

    private static List<PoolGeometry> geometries(boolean dilated, boolean countIncludePad) {
        List<PoolGeometry> list = new ArrayList<>();
        for (int[] s : GEOMETRIES) if (dilated || (s[10] == 1 && s[11] == 1)) list.add(geometry(s, countIncludePad));
        return list;
    }

    @ParameterizedTest
    @MethodSource("backends")
    void maxPoolingMatchesTheCpuBackend(CudaBackend b) {
        for (PoolGeometry g : geometries(true, true)) {
            int[] xs = {g.n(), g.c(), g.h(), g.w()};
            for (int kind = 0; kind < 3; kind++) {   // random, ties, ties and NaN
                Tensor x = kind == 0 ? randn(rng, xs) : tiedInput(xs, kind == 2);
                String what = "max pool " + g + " input " + (kind == 0 ? "random" : kind == 1 ? "tied" : "tied with NaN");
                Tensor y = Tensor.zeros(CPU, g.outputShape()), gy = Tensor.zeros(b, g.outputShape());
                CPU.maxPool2dForward(g, x, y);
                Tensor gx = x.to(b);
                b.maxPool2dForward(g, gx, gy);
                assertClose(what + ": forward", gy, y, 0);

                Tensor dy = randn(rng, g.outputShape());
                Tensor dx = Tensor.zeros(CPU, xs), gdx = Tensor.full(CPU, 7, xs).to(b);
                CPU.maxPool2dBackward(g, x, dy, dx);
                b.maxPool2dBackward(g, gx, dy.to(b), gdx);
                assertClose(what + ": backward", gdx, dx, 1e-6);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void averagePoolingMatchesTheCpuBackend(CudaBackend b) {
        for (boolean countIncludePad : new boolean[] {true, false}) {
            for (PoolGeometry g : geometries(false, countIncludePad)) {
                int[] xs = {g.n(), g.c(), g.h(), g.w()};
                String what = "avg pool " + g;
                Tensor x = randn(rng, xs);
                Tensor y = Tensor.zeros(CPU, g.outputShape()), gy = Tensor.zeros(b, g.outputShape());
                CPU.avgPool2dForward(g, x, y);
                b.avgPool2dForward(g, x.to(b), gy);
                assertClose(what + ": forward", gy, y, 1e-6);

                Tensor dy = randn(rng, g.outputShape());
                Tensor dx = Tensor.zeros(CPU, xs), gdx = Tensor.full(CPU, 7, xs).to(b);
                CPU.avgPool2dBackward(g, dy, dx);
                b.avgPool2dBackward(g, dy.to(b), gdx);
                assertClose(what + ": backward", gdx, dx, 1e-6);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void averagePoolingRefusesDilation(CudaBackend b) {
        PoolGeometry g = geometry(GEOMETRIES[4], true);
        Tensor x = Tensor.zeros(b, g.n(), g.c(), g.h(), g.w()), y = Tensor.zeros(b, g.outputShape());
        assertThatThrownBy(() -> b.avgPool2dForward(g, x, y)).isInstanceOf(GraftException.class)
                .hasMessageContaining("avg_pool2d does not support dilation (got 2x2)");
        assertThatThrownBy(() -> b.avgPool2dBackward(g, y, x)).isInstanceOf(GraftException.class)
                .hasMessageContaining("avg_pool2d does not support dilation");
    }

    @ParameterizedTest
    @MethodSource("backends")
    void adaptivePoolingMatchesTheCpuBackend(CudaBackend b) {
        // {planes, h, w, oh, ow}: global, divisible, overlapping windows (7 -> 3), upsampling (5 -> 7), identity.
        int[][] cases = {{6, 7, 7, 1, 1}, {3, 8, 12, 4, 3}, {2, 7, 9, 3, 5}, {4, 5, 3, 7, 4}, {2, 6, 5, 6, 5}, {40, 3, 3, 2, 2}, {1, 1, 1, 3, 2}};
        for (int[] s : cases) {
            int planes = s[0], h = s[1], w = s[2], oh = s[3], ow = s[4];
            String what = "adaptive avg pool " + planes + "x" + h + "x" + w + " -> " + oh + "x" + ow;
            Tensor x = randn(rng, planes, h, w);
            Tensor y = Tensor.zeros(CPU, planes, oh, ow), gy = Tensor.zeros(b, planes, oh, ow);
            CPU.adaptiveAvgPool2dForward(planes, h, w, oh, ow, x, y);
            b.adaptiveAvgPool2dForward(planes, h, w, oh, ow, x.to(b), gy);
            assertClose(what + ": forward", gy, y, 1e-6);

            Tensor dy = randn(rng, planes, oh, ow);
            Tensor dx = Tensor.zeros(CPU, planes, h, w), gdx = Tensor.full(CPU, 7, planes, h, w).to(b);
            CPU.adaptiveAvgPool2dBackward(planes, h, w, oh, ow, dy, dx);
            b.adaptiveAvgPool2dBackward(planes, h, w, oh, ow, dy.to(b), gdx);
            assertClose(what + ": backward", gdx, dx, 1e-6);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void emptyBatchesAreNoOps(CudaBackend b) {
        PoolGeometry g = PoolGeometry.of(new int[] {0, 3, 5, 5}, new int[] {3, 3}, new int[] {2, 2}, new int[] {1, 1},
                new int[] {1, 1}, false, true);
        Tensor x = Tensor.zeros(b, 0, 3, 5, 5), y = Tensor.zeros(b, g.outputShape());
        b.maxPool2dForward(g, x, y);
        b.maxPool2dBackward(g, x, y, x);
        b.avgPool2dForward(g, x, y);
        b.avgPool2dBackward(g, y, x);
        b.adaptiveAvgPool2dForward(0, 5, 5, 2, 2, x, y);
        b.adaptiveAvgPool2dBackward(0, 5, 5, 2, 2, y, x);
    }
}
