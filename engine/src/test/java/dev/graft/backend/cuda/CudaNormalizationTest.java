package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static dev.graft.backend.cuda.CudaTesting.uniform;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Batch norm of the CUDA backend (statistics, forward with residual and activation, backward) against the CPU backend. */
class CudaNormalizationTest {
    private final Random rng = new Random(11);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    /** (n, c, hw): odd sizes, one element, many channels, and channels long enough to split into several chunks. */
    private static final int[][] SHAPES = {{1, 1, 1}, {2, 3, 17}, {3, 40, 7}, {2, 2, 1517}, {1, 1, 4500}, {5, 4, 1}, {3, 7, 300}};

    /** Asserts |actual − expected| ≤ tol·|expected| element-wise (NaN matching NaN). */
    private static void assertRelative(String what, Tensor actual, Tensor expected, double tol) {
        float[] a = actual.toFloatArray(), e = expected.toFloatArray();
        assertThat(a.length).as(what + ": element count").isEqualTo(e.length);
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(e[i]) && Float.isNaN(a[i])) continue;
            if (!(Math.abs(a[i] - e[i]) <= tol * Math.abs(e[i])))
                fail(what + ": element " + i + " is " + a[i] + ", expected " + e[i] + " (relative tolerance " + tol + ")");
        }
    }

    /** x (n, c, hw) with per-channel offsets and spreads, so each channel has its own statistics. */
    private Tensor input(int n, int c, int hw, float offset, float spread) {
        float[] v = new float[n * c * hw];
        float[] mu = new float[c], sd = new float[c];
        for (int ch = 0; ch < c; ch++) {
            mu[ch] = offset * (1 + 0.5f * rng.nextFloat()) * (rng.nextBoolean() ? 1 : -1);
            sd[ch] = spread * (0.5f + rng.nextFloat());
        }
        for (int i = 0; i < v.length; i++) {
            int ch = i / hw % c;
            v[i] = mu[ch] + sd[ch] * (float) rng.nextGaussian();
        }
        return Tensor.of(v, n, c, hw);
    }

    /** invStd = 1 / sqrt(var + 1e-5) of the CPU backend's statistics of x, and the mean. */
    private static Tensor[] cpuStats(int n, int c, int hw, Tensor x) {
        Tensor mean = Tensor.zeros(CPU, c), var = Tensor.zeros(CPU, c);
        CPU.batchNormStats(n, c, hw, x, mean, var);
        float[] v = var.toFloatArray();
        for (int i = 0; i < c; i++) v[i] = (float) (1 / Math.sqrt(v[i] + 1e-5));
        return new Tensor[] {mean, Tensor.of(v, c)};
    }

    /** batchNormUpdateStats in one kernel equals the CPU's sequence of element-wise kernels bit for bit. */
    @ParameterizedTest
    @MethodSource("backends")
    void updateStatsMatchesTheCpuSequenceExactly(CudaBackend b) {
        for (int c : new int[] {1, 7, 300}) {
            Tensor mean = randn(rng, c), var = uniform(rng, 0f, 3f, c), rm = randn(rng, c), rv = uniform(rng, 0.5f, 2f, c);
            Tensor inv = Tensor.zeros(CPU, c), rmCpu = rm.copy(), rvCpu = rv.copy();
            CPU.batchNormUpdateStats(c, mean, var, 1e-5, 0.1, 6, rmCpu, rvCpu, inv);
            Tensor invG = Tensor.zeros(b, c), rmG = rm.to(b), rvG = rv.to(b);
            b.batchNormUpdateStats(c, mean.to(b), var.to(b), 1e-5, 0.1, 6, rmG, rvG, invG);
            assertClose("invStd c=" + c, invG, inv, 0);
            assertClose("running mean c=" + c, rmG, rmCpu, 0);
            assertClose("running var c=" + c, rvG, rvCpu, 0);
            Tensor invOnly = Tensor.zeros(b, c);   // no running statistics (track_running_stats=False)
            b.batchNormUpdateStats(c, mean.to(b), var.to(b), 1e-3, 0.1, 6, null, null, invOnly);
            Tensor invOnlyCpu = Tensor.zeros(CPU, c);
            CPU.batchNormUpdateStats(c, mean, var, 1e-3, 0.1, 6, null, null, invOnlyCpu);
            assertClose("invStd without running statistics c=" + c, invOnly, invOnlyCpu, 0);
            Tensor inv2 = Tensor.zeros(b, c), inv2Cpu = Tensor.zeros(CPU, c);   // the inference-mode scale
            b.batchNormInverseStd(c, rv.to(b), 1e-5, inv2);
            CPU.batchNormInverseStd(c, rv, 1e-5, inv2Cpu);
            assertClose("batchNormInverseStd c=" + c, inv2, inv2Cpu, 0);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void statsMatchTheCpuBackend(CudaBackend b) {
        for (int[] s : SHAPES) {
            int n = s[0], c = s[1], hw = s[2];
            Tensor x = input(n, c, hw, 2f, 1.5f);
            Tensor mean = Tensor.zeros(CPU, c), var = Tensor.zeros(CPU, c);
            CPU.batchNormStats(n, c, hw, x, mean, var);
            Tensor gm = Tensor.zeros(b, c), gv = Tensor.zeros(b, c);
            b.batchNormStats(n, c, hw, x.to(b), gm, gv);
            String what = "stats " + n + "x" + c + "x" + hw;
            assertClose(what + " mean", gm, mean, 1e-5);
            assertRelative(what + " var", gv, var, 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void statsStayAccurateWhenTheMeanDwarfsTheSpread(CudaBackend b) {
        // |mean| / std around 1e3 and 1e4 (further, the float inputs themselves lose the spread).
        for (float[] os : new float[][] {{1000f, 1f}, {100f, 0.01f}, {-3000f, 0.5f}}) {
            float offset = os[0];
            int n = 3, c = 3, hw = 1100;
            Tensor x = input(n, c, hw, offset, os[1]);
            Tensor mean = Tensor.zeros(CPU, c), var = Tensor.zeros(CPU, c);
            CPU.batchNormStats(n, c, hw, x, mean, var);
            Tensor gm = Tensor.zeros(b, c), gv = Tensor.zeros(b, c);
            b.batchNormStats(n, c, hw, x.to(b), gm, gv);
            assertRelative("mean, offset " + offset, gm, mean, 1e-6);
            assertRelative("var, offset " + offset, gv, var, 1e-5);
            // And against the exact variance (double, two passes).
            float[] xv = x.toFloatArray(), got = gv.toFloatArray();
            for (int ch = 0; ch < c; ch++) {
                double s = 0, q = 0;
                for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) s += xv[(i * c + ch) * hw + j];
                double m = s / (n * hw);
                for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) q += Math.pow(xv[(i * c + ch) * hw + j] - m, 2);
                double exact = q / (n * hw);
                assertThat(Math.abs(got[ch] - exact)).as("var " + got[ch] + " vs exact " + exact + ", offset " + offset)
                        .isLessThanOrEqualTo(1e-6 * exact);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void statsOfAnEmptyBatchAreNaN(CudaBackend b) {
        Tensor x = Tensor.zeros(CPU, 0, 3, 5);
        Tensor mean = Tensor.zeros(CPU, 3), var = Tensor.zeros(CPU, 3);
        CPU.batchNormStats(0, 3, 5, x, mean, var);
        Tensor gm = Tensor.zeros(b, 3), gv = Tensor.zeros(b, 3);
        b.batchNormStats(0, 3, 5, x.to(b), gm, gv);
        assertClose("mean", gm, mean, 0);
        assertClose("var", gv, var, 0);
    }

    /** Forward through the Backend method that serves (act, residual): plain, with activation, with residual and activation. */
    private static void forward(Backend be, int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor w, Tensor bias,
                                Tensor residual, UnaryOp act, Tensor y) {
        if (act == null) be.batchNormForward(n, c, hw, x, mean, invStd, w, bias, y);
        else if (residual == null) be.batchNormActivationForward(n, c, hw, x, mean, invStd, w, bias, act, y);
        else be.batchNormAddActivationForward(n, c, hw, x, mean, invStd, w, bias, residual, act, y);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void forwardMatchesTheCpuBackend(CudaBackend b) {
        UnaryOp[] acts = {null, UnaryOp.RELU, UnaryOp.RELU6};
        for (int[] s : new int[][] {{2, 3, 17}, {3, 40, 7}, {1, 1, 1}, {2, 2, 1517}}) {
            int n = s[0], c = s[1], hw = s[2];
            Tensor x = input(n, c, hw, 1f, 2f);
            Tensor[] st = cpuStats(n, c, hw, x);
            Tensor w = uniform(rng, 0.5f, 4f, c), bias = uniform(rng, -1f, 3f, c);
            Tensor residual = uniform(rng, -3f, 3f, n, c, hw);
            for (UnaryOp act : acts) {
                for (boolean withResidual : new boolean[] {false, true}) {
                    if (withResidual && act == null) continue;
                    for (boolean affine : new boolean[] {false, true}) {
                        for (boolean inPlace : new boolean[] {false, true}) {
                            Tensor r = withResidual ? residual : null, ww = affine ? w : null, bb = affine ? bias : null;
                            Tensor expected = Tensor.zeros(CPU, n, c, hw);
                            forward(CPU, n, c, hw, x, st[0], st[1], ww, bb, r, act, expected);
                            Tensor gx = x.to(b), y = inPlace ? gx : Tensor.zeros(b, n, c, hw);
                            forward(b, n, c, hw, gx, st[0].to(b), st[1].to(b), affine ? w.to(b) : null, affine ? bias.to(b) : null,
                                    withResidual ? residual.to(b) : null, act, y);
                            assertClose("forward " + n + "x" + c + "x" + hw + " act " + act + " residual " + withResidual
                                    + " affine " + affine + " in place " + inPlace, y, expected, 1e-6);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void forwardPropagatesNaNThroughTheClamp(CudaBackend b) {
        int n = 1, c = 2, hw = 5;
        Tensor x = Tensor.of(new float[] {Float.NaN, -1, 0, 1, 9, 2, Float.NaN, -8, 100, Float.NEGATIVE_INFINITY}, n, c, hw);
        Tensor mean = Tensor.of(new float[] {0, 1}, c), invStd = Tensor.of(new float[] {1, 2}, c);
        for (UnaryOp act : new UnaryOp[] {UnaryOp.RELU, UnaryOp.RELU6}) {
            Tensor expected = Tensor.zeros(CPU, n, c, hw);
            CPU.batchNormActivationForward(n, c, hw, x, mean, invStd, null, null, act, expected);
            Tensor y = Tensor.zeros(b, n, c, hw);
            b.batchNormActivationForward(n, c, hw, x.to(b), mean.to(b), invStd.to(b), null, null, act, y);
            assertClose("NaN through " + act, y, expected, 0);
            assertThat(y.toFloatArray()[0]).isNaN();
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void onlyReluAndRelu6AreFused(CudaBackend b) {
        Tensor x = Tensor.zeros(b, 1, 1, 4), m = Tensor.zeros(b, 1), is = Tensor.zeros(b, 1);
        assertThatThrownBy(() -> b.batchNormActivationForward(1, 1, 4, x, m, is, null, null, UnaryOp.SIGMOID, x))
                .isInstanceOf(GraftException.class).hasMessageContaining("ReLU or ReLU6, got SIGMOID");
        assertThatThrownBy(() -> b.batchNormActivationBackward(1, 1, 4, x, x, x, m, is, null, true, UnaryOp.TANH, x, null, null))
                .isInstanceOf(GraftException.class).hasMessageContaining("ReLU or ReLU6, got TANH");
    }

    /** The outputs a backward call asks for: dx, dWeight, dBias. */
    private static final boolean[][] WANTED = {{true, true, true}, {true, false, false}, {false, true, true}, {false, false, true}, {false, true, false}};

    @ParameterizedTest
    @MethodSource("backends")
    void backwardMatchesTheCpuBackend(CudaBackend b) {
        UnaryOp[] acts = {null, UnaryOp.RELU, UnaryOp.RELU6};
        int[][] shapes = {{2, 3, 17}, {3, 40, 7}, {2, 2, 1517}, {1, 1, 1}, {5, 4, 1}};
        int round = 0;
        for (int[] s : shapes) {
            int n = s[0], c = s[1], hw = s[2];
            Tensor x = input(n, c, hw, 1f, 2f);
            Tensor[] st = cpuStats(n, c, hw, x);
            Tensor w = uniform(rng, 0.5f, 4f, c), bias = uniform(rng, -1f, 3f, c);
            Tensor dz = randn(rng, n, c, hw);
            for (UnaryOp act : acts) {
                Tensor z = null;
                if (act != null) {
                    z = Tensor.zeros(CPU, n, c, hw);
                    CPU.batchNormActivationForward(n, c, hw, x, st[0], st[1], w, bias, act, z);
                    float[] zv = z.toFloatArray();
                    zv[zv.length / 2] = Float.NaN;  // NaN passes the mask
                    z = Tensor.of(zv, n, c, hw);
                }
                for (boolean batchStats : new boolean[] {true, false}) {
                    for (boolean affine : new boolean[] {true, false}) {
                        // Every output subset on some combinations, all outputs on the others.
                        boolean[][] wanted = (round++ % 3 == 0) ? WANTED : new boolean[][] {WANTED[0]};
                        for (boolean[] want : wanted) {
                            String what = "backward " + n + "x" + c + "x" + hw + " act " + act + " batchStats " + batchStats
                                    + " affine " + affine + " outputs dx/dW/dB " + want[0] + "/" + want[1] + "/" + want[2];
                            checkBackward(b, what, n, c, hw, x, z, dz, st, affine ? w : null, batchStats, act, want);
                        }
                    }
                }
            }
        }
    }

    private static void checkBackward(CudaBackend b, String what, int n, int c, int hw, Tensor x, Tensor z, Tensor dz,
                                      Tensor[] st, Tensor w, boolean batchStats, UnaryOp act, boolean[] want) {
        Tensor dx = want[0] ? Tensor.zeros(CPU, n, c, hw) : null, dw = want[1] ? Tensor.zeros(CPU, c) : null;
        Tensor db = want[2] ? Tensor.zeros(CPU, c) : null;
        if (act == null) CPU.batchNormBackward(n, c, hw, x, dz, st[0], st[1], w, batchStats, dx, dw, db);
        else CPU.batchNormActivationBackward(n, c, hw, x, z, dz, st[0], st[1], w, batchStats, act, dx, dw, db);
        Tensor gdx = want[0] ? Tensor.full(CPU, 7, n, c, hw).to(b) : null, gdw = want[1] ? Tensor.full(CPU, 7, c).to(b) : null;
        Tensor gdb = want[2] ? Tensor.full(CPU, 7, c).to(b) : null;
        Tensor gw = w == null ? null : w.to(b);
        if (act == null) b.batchNormBackward(n, c, hw, x.to(b), dz.to(b), st[0].to(b), st[1].to(b), gw, batchStats, gdx, gdw, gdb);
        else b.batchNormActivationBackward(n, c, hw, x.to(b), z.to(b), dz.to(b), st[0].to(b), st[1].to(b), gw, batchStats, act,
                gdx, gdw, gdb);
        if (want[0]) assertClose(what + ": dx", gdx, dx, 1e-4);
        if (want[1]) assertClose(what + ": dWeight", gdw, dw, 1e-4);
        if (want[2]) assertClose(what + ": dBias", gdb, db, 1e-4);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void dxMayOverwriteTheIncomingGradient(CudaBackend b) {
        int n = 2, c = 3, hw = 33;
        Tensor x = input(n, c, hw, 1f, 1f);
        Tensor[] st = cpuStats(n, c, hw, x);
        Tensor dz = randn(rng, n, c, hw), dx = Tensor.zeros(CPU, n, c, hw), dw = Tensor.zeros(CPU, c);
        CPU.batchNormBackward(n, c, hw, x, dz, st[0], st[1], null, true, dx, dw, null);
        Tensor g = dz.to(b), gdw = Tensor.zeros(b, c);
        b.batchNormBackward(n, c, hw, x.to(b), g, st[0].to(b), st[1].to(b), null, true, g, gdw, null);
        assertClose("dx in place of dy", g, dx, 1e-4);
        assertClose("dWeight", gdw, dw, 1e-4);
    }
}
