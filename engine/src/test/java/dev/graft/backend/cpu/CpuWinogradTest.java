package dev.graft.backend.cpu;

import static dev.graft.backend.cpu.CpuTesting.randn;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.backend.ConvGeometry;
import dev.graft.backend.reference.ReferenceBackend;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The Winograd F(2×2, 3×3) path against float64 convolutions: its error stays within a small factor
 * of the direct (im2col) path's error on the same inputs. The parity tests of {@link CpuBackendTest}
 * run it through the backend's dispatch as well.
 */
class CpuWinogradTest {
    private final Random rng = new Random(7);

    private static ConvGeometry geometry(int n, int c, int h, int w, int k, int pad) {
        return ConvGeometry.of(new int[] {n, c, h, w}, new int[] {k, c, 3, 3}, new int[] {1, 1}, new int[] {pad, pad},
                new int[] {1, 1}, 1);
    }

    @Test
    void takesOnlyStrideOneThreeByThreeConvolutionsWithEnoughChannels() {
        assertThat(CpuWinograd.applies(geometry(16, 64, 56, 56, 64, 1))).isTrue();
        assertThat(CpuWinograd.applies(geometry(16, 512, 7, 7, 512, 1))).isTrue();
        assertThat(CpuWinograd.applies(geometry(1, 3, 224, 224, 64, 1))).as("3 input channels").isFalse();
        assertThat(CpuWinograd.applies(ConvGeometry.of(new int[] {1, 64, 56, 56}, new int[] {128, 64, 3, 3},
                new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1}, 1))).as("stride 2").isFalse();
        assertThat(CpuWinograd.applies(ConvGeometry.of(new int[] {1, 64, 56, 56}, new int[] {64, 32, 3, 3},
                new int[] {1, 1}, new int[] {1, 1}, new int[] {1, 1}, 2))).as("groups").isFalse();
        assertThat(CpuWinograd.applies(ConvGeometry.of(new int[] {1, 64, 56, 56}, new int[] {64, 64, 3, 3},
                new int[] {1, 1}, new int[] {2, 2}, new int[] {2, 2}, 1))).as("dilation").isFalse();
        assertThat(CpuWinograd.applies(ConvGeometry.of(new int[] {1, 64, 56, 56}, new int[] {64, 64, 1, 1},
                new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}, 1))).as("1x1").isFalse();
        // 2^31 floats of split input would not fit in one Java array: im2col instead.
        assertThat(CpuWinograd.applies(geometry(64, 512, 256, 256, 64, 1))).as("split too big for an array").isFalse();
        assertThat(CpuWinograd.applies(geometry(64, 64, 256, 256, 64, 1))).isTrue();
    }

    /** Largest |a − exact| over the largest |exact|. */
    private static double relError(float[] a, double[] exact) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < a.length; i++) {
            err = Math.max(err, Math.abs(a[i] - exact[i]));
            scale = Math.max(scale, Math.abs(exact[i]));
        }
        return err / scale;
    }

    @Test
    void errorIsCloseToTheDirectConvolutionsOnResNetSizedLayers() {
        ReferenceBackend f64 = ReferenceBackend.FLOAT64;
        for (int[] s : new int[][] {{2, 64, 14, 14, 64, 1}, {1, 128, 9, 11, 96, 1}, {2, 256, 7, 7, 256, 1}, {1, 32, 12, 12, 48, 0}}) {
            ConvGeometry g = geometry(s[0], s[1], s[2], s[3], s[4], s[5]);
            Tensor x = randn(rng, s[0], s[1], s[2], s[3]), w = randn(rng, g.weightShape()), dy = randn(rng, g.outputShape());
            float[] xa = x.toFloatArray(), wa = w.toFloatArray(), dya = dy.toFloatArray();

            Tensor x64 = x.to(DType.FLOAT64), w64 = w.to(DType.FLOAT64), dy64 = dy.to(DType.FLOAT64);
            Tensor y64 = Tensor.zeros(DType.FLOAT64, x.device(), g.outputShape());
            f64.conv2dForward(g, x64, w64, null, y64);
            compare("forward " + g, y64,
                    out -> CpuWinograd.forward(g, xa, 0, wa, 0, null, 0, out, 0, null),
                    out -> CpuConvolution.forwardDirect(g, xa, 0, wa, 0, null, 0, out, 0, null));
            Tensor dx64 = Tensor.zeros(DType.FLOAT64, x.device(), x.shape());
            f64.conv2dBackwardData(g, dy64, w64, dx64);
            compare("data gradient " + g, dx64,
                    out -> CpuWinograd.backwardData(g, dya, 0, wa, 0, out, 0),
                    out -> CpuConvolution.backwardDataDirect(g, dya, 0, wa, 0, out, 0));
            Tensor dw64 = Tensor.zeros(DType.FLOAT64, x.device(), w.shape());
            f64.conv2dBackwardWeight(g, x64, dy64, dw64);
            compare("weight gradient " + g, dw64,
                    out -> CpuWinograd.backwardWeight(g, xa, 0, dya, 0, out, 0),
                    out -> CpuConvolution.backwardWeightDirect(g, xa, 0, dya, 0, out, 0));
        }
    }

    /** Runs both paths into fresh arrays and compares their errors against the float64 result. */
    private static void compare(String what, Tensor exact, Consumer<float[]> winograd, Consumer<float[]> direct) {
        double[] e = exact.toDoubleArray();
        float[] a = new float[e.length], b = new float[e.length];
        winograd.accept(a);
        direct.accept(b);
        double errW = relError(a, e), errD = relError(b, e);
        assertThat(errW).as("%s: Winograd error %.3g vs direct %.3g", what, errW, errD)
                .isLessThan(Math.max(4 * errD, 1e-6)).isLessThan(1e-5);
    }
}
