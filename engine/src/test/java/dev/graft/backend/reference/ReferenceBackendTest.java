package dev.graft.backend.reference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.backend.cpu.DoubleStorage;
import dev.graft.backend.cpu.FloatStorage;
import dev.graft.backend.cpu.HostStorage;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Hand-computed and independently formulated checks of the reference kernels. Every expected value
 * here is either worked out by hand in a comment or computed by a different formulation (im2col,
 * finite differences, adjoint identities), never by re-running the kernel's own loop.
 */
class ReferenceBackendTest {
    private static final ReferenceBackend R = ReferenceBackend.FLOAT64;
    private static final double TOL = 1e-12;

    // ------------------------------------------------------------------ helpers

    private static Tensor t(double[] data, int... shape) {
        assertThat(data).hasSize(Shapes.numel(shape));
        return new Tensor(R.fromDoubles(data.clone()), shape, Shapes.contiguousStrides(shape), 0);
    }

    private static Tensor zeros(int... shape) {
        return new Tensor(R.allocate(Shapes.numel(shape)), shape, Shapes.contiguousStrides(shape), 0);
    }

    /** A tensor whose values start at storage index {@code offset} (checks that kernels honour offsets). */
    private static Tensor atOffset(double[] data, int offset, int... shape) {
        double[] padded = new double[data.length + offset + 3];
        java.util.Arrays.fill(padded, Double.NaN);
        System.arraycopy(data, 0, padded, offset, data.length);
        return new Tensor(new DoubleStorage(padded), shape, Shapes.contiguousStrides(shape), offset);
    }

    private static double[] vals(Tensor x) {
        HostStorage s = (HostStorage) x.storage();
        double[] out = new double[Shapes.numel(x.shape())];
        for (int i = 0; i < out.length; i++) out[i] = s.get(x.offset() + i);
        return out;
    }

    private static double[] range(int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = i;
        return d;
    }

    private static double[] random(Random rng, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = rng.nextGaussian();
        return d;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static void assertClose(double[] actual, double[] expected, double tol) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            assertThat(actual[i]).as("element %d", i).isCloseTo(expected[i], within(tol));
        }
    }

    /** Central-difference gradient of sum(c · f(x)) with respect to x. */
    private static double[] numericGrad(UnaryOperator<double[]> f, double[] x, double[] c) {
        double h = 1e-6;
        double[] grad = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double[] xp = x.clone(), xm = x.clone();
            xp[i] += h;
            xm[i] -= h;
            grad[i] = (dot(c, f.apply(xp)) - dot(c, f.apply(xm))) / (2 * h);
        }
        return grad;
    }

    // ------------------------------------------------------------------ memory

    @Test
    void instancesAllocateTheirOwnStorageType() {
        assertThat(ReferenceBackend.FLOAT64.dtype()).isEqualTo(DType.FLOAT64);
        assertThat(ReferenceBackend.FLOAT32.dtype()).isEqualTo(DType.FLOAT32);
        assertThat(ReferenceBackend.FLOAT64.device()).isEqualTo(Device.CPU);
        assertThat(ReferenceBackend.FLOAT64.allocate(3)).isInstanceOf(DoubleStorage.class);
        assertThat(ReferenceBackend.FLOAT32.allocate(3)).isInstanceOf(FloatStorage.class);
        assertThat(ReferenceBackend.FLOAT32.fromDoubles(new double[] {1.5})).isInstanceOf(FloatStorage.class);
        assertThat(ReferenceBackend.FLOAT64.fromFloats(new float[] {1.5f})).isInstanceOf(DoubleStorage.class);
        float[] read = new float[2];
        ReferenceBackend.FLOAT64.readFloats(R.fromDoubles(new double[] {9, 1.25, -2}), 1, read, 0, 2);
        assertThat(read).containsExactly(1.25f, -2f);
    }

    @Test
    void stridedCopyTransposes() {
        // src 2x3 [[0,1,2],[3,4,5]] read with strides (1,3) as a 3x2 transpose
        var src = R.fromDoubles(range(6));
        var dst = R.allocate(6);
        R.copy(new int[] {3, 2}, src, 0, new int[] {1, 3}, dst, 0, new int[] {2, 1});
        assertThat(vals(new Tensor(dst, new int[] {6}, new int[] {1}, 0))).containsExactly(0, 3, 1, 4, 2, 5);
    }

    @Test
    void copyBroadcastsZeroStridesAndHandlesZeroD() {
        var src = R.fromDoubles(new double[] {7, 8});
        var dst = R.allocate(6);
        // read src[1] with stride 0 everywhere into a 2x3 block, then a 0-D copy of src[0] into dst[4]
        R.copy(new int[] {2, 3}, src, 1, new int[] {0, 0}, dst, 0, new int[] {3, 1});
        assertThat(((DoubleStorage) dst).data).containsExactly(8, 8, 8, 8, 8, 8);
        R.copy(new int[] {}, src, 0, new int[] {}, dst, 4, new int[] {});
        assertThat(((DoubleStorage) dst).data).containsExactly(8, 8, 8, 8, 7, 8);
    }

    @Test
    void overlappingCopyBehavesLikeATemporary() {
        DoubleStorage s = new DoubleStorage(new double[] {1, 2, 3, 4, 0});
        R.copy(new int[] {4}, s, 0, new int[] {1}, s, 1, new int[] {1});
        assertThat(s.data).containsExactly(1, 1, 2, 3, 4);
    }

    @Test
    void fillRespectsOffset() {
        DoubleStorage s = new DoubleStorage(new double[5]);
        R.fill(new Tensor(s, new int[] {2, 1}, new int[] {1, 1}, 2), 3.5);
        assertThat(s.data).containsExactly(0, 0, 3.5, 3.5, 0);
    }

    @Test
    void float64ReferenceRunsOverFloatStorage() {
        FloatStorage fs = new FloatStorage(new float[] {1, 4, 9});
        Tensor x = new Tensor(fs, new int[] {3}, new int[] {1}, 0);
        Tensor y = new Tensor(new FloatStorage(new float[3]), new int[] {3}, new int[] {1}, 0);
        R.unary(UnaryOp.SQRT, x, y);
        assertThat(((FloatStorage) y.storage()).data).containsExactly(1f, 2f, 3f);
    }

    // ------------------------------------------------------------------ element-wise

    private double f(UnaryOp op, double x) {
        Tensor y = zeros(1);
        R.unary(op, t(new double[] {x}, 1), y);
        return vals(y)[0];
    }

    private double df(UnaryOp op, double x) {
        Tensor dx = zeros(1);
        R.unaryBackward(op, t(new double[] {x}, 1), t(new double[] {1}, 1), dx);
        return vals(dx)[0];
    }

    @Test
    void forwardValues() {
        assertThat(f(UnaryOp.RELU, -2)).isEqualTo(0);
        assertThat(f(UnaryOp.RELU, 2.5)).isEqualTo(2.5);
        assertThat(f(UnaryOp.RELU6, 7)).isEqualTo(6);
        assertThat(f(UnaryOp.RELU6, 5)).isEqualTo(5);
        assertThat(f(UnaryOp.RELU6, -1)).isEqualTo(0);
        assertThat(f(UnaryOp.HARDSWISH, 1)).isCloseTo(1 * 4 / 6.0, within(TOL));   // x·relu6(x+3)/6
        assertThat(f(UnaryOp.HARDSWISH, -4)).isEqualTo(0);
        assertThat(f(UnaryOp.HARDSWISH, 4)).isEqualTo(4);
        assertThat(f(UnaryOp.HARDSIGMOID, 0)).isCloseTo(0.5, within(TOL));
        assertThat(f(UnaryOp.HARDSIGMOID, 4)).isEqualTo(1);
        assertThat(f(UnaryOp.SIGMOID, 0)).isEqualTo(0.5);
        assertThat(f(UnaryOp.SILU, 2)).isCloseTo(2 / (1 + Math.exp(-2)), within(TOL));
        assertThat(f(UnaryOp.TANH, 0.5)).isCloseTo(Math.tanh(0.5), within(TOL));
        assertThat(f(UnaryOp.EXP, 1)).isCloseTo(Math.E, within(TOL));
        assertThat(f(UnaryOp.LOG, Math.E)).isCloseTo(1, within(TOL));
        assertThat(f(UnaryOp.NEG, 3)).isEqualTo(-3);
        assertThat(f(UnaryOp.SQRT, 16)).isEqualTo(4);
        assertThat(f(UnaryOp.SQUARE, -3)).isEqualTo(9);
        assertThat(f(UnaryOp.ABS, -3)).isEqualTo(3);
    }

    @Test
    void derivativesAtPyTorchKinks() {
        assertThat(df(UnaryOp.RELU, 0)).isEqualTo(0);
        assertThat(df(UnaryOp.RELU, 1e-9)).isEqualTo(1);
        assertThat(df(UnaryOp.RELU6, 0)).isEqualTo(0);
        assertThat(df(UnaryOp.RELU6, 6)).isEqualTo(0);
        assertThat(df(UnaryOp.RELU6, 3)).isEqualTo(1);
        assertThat(df(UnaryOp.HARDSWISH, -3.5)).isEqualTo(0);
        assertThat(df(UnaryOp.HARDSWISH, -3)).isCloseTo(-0.5, within(TOL));   // x/3 + 1/2 at x = −3
        assertThat(df(UnaryOp.HARDSWISH, 3)).isCloseTo(1.5, within(TOL));     // x/3 + 1/2 at x = 3
        assertThat(df(UnaryOp.HARDSWISH, 3.5)).isEqualTo(1);
        assertThat(df(UnaryOp.HARDSWISH, 0)).isCloseTo(0.5, within(TOL));
        assertThat(df(UnaryOp.HARDSIGMOID, -3)).isEqualTo(0);
        assertThat(df(UnaryOp.HARDSIGMOID, 3)).isEqualTo(0);
        assertThat(df(UnaryOp.HARDSIGMOID, 2.9)).isCloseTo(1 / 6.0, within(TOL));
        assertThat(df(UnaryOp.ABS, 0)).isEqualTo(0);
        assertThat(df(UnaryOp.ABS, -2)).isEqualTo(-1);
    }

    @Test
    void derivativesMatchFiniteDifferencesAwayFromKinks() {
        double[] xs = {-4.2, -2.1, -0.7, 0.3, 1.9, 2.6, 4.4, 7.3};
        for (UnaryOp op : UnaryOp.values()) {
            for (double x : xs) {
                if ((op == UnaryOp.LOG || op == UnaryOp.SQRT) && x <= 0) continue;
                double h = 1e-6;
                double numeric = (f(op, x + h) - f(op, x - h)) / (2 * h);
                Tensor dx = zeros(1);
                R.unaryBackward(op, t(new double[] {x}, 1), t(new double[] {0.7}, 1), dx);
                assertThat(vals(dx)[0]).as("%s'(%s)", op, x).isCloseTo(0.7 * numeric, within(1e-6));
            }
        }
    }

    @Test
    void binaryBroadcastsByStrides() {
        Tensor a = t(range(6), 2, 3);
        Tensor b = atOffset(new double[] {10, 20, 30}, 2, 3);
        Tensor out = zeros(2, 3);
        R.binary(BinaryOp.SUB, new int[] {2, 3}, a, new int[] {3, 1}, b, new int[] {0, 1}, out);
        assertThat(vals(out)).containsExactly(-10, -19, -28, -7, -16, -25);
        R.binary(BinaryOp.DIV, new int[] {2, 3}, b, new int[] {0, 1}, t(new double[] {2, 4}, 2, 1), new int[] {1, 0}, out);
        assertThat(vals(out)).containsExactly(5, 10, 15, 2.5, 5, 7.5);
    }

    @Test
    void scalarOps() {
        Tensor x = t(new double[] {1, 2, 4}, 3);
        Tensor y = zeros(3);
        R.scalar(ScalarOp.RSUB, x, 10, y);
        assertThat(vals(y)).containsExactly(9, 8, 6);
        R.scalar(ScalarOp.RDIV, x, 8, y);
        assertThat(vals(y)).containsExactly(8, 4, 2);
        R.scalar(ScalarOp.POW, x, 1.5, y);
        assertThat(vals(y)).containsExactly(1, Math.pow(2, 1.5), 8);
        R.scalar(ScalarOp.ADD, x, -1, y);
        assertThat(vals(y)).containsExactly(0, 1, 3);
        R.scalar(ScalarOp.MUL, x, -2, y);
        assertThat(vals(y)).containsExactly(-2, -4, -8);
    }

    // ------------------------------------------------------------------ reductions and softmax

    @Test
    void sumOverEitherAxisOverwritesOut() {
        Tensor x = t(range(6), 2, 3);                          // [[0,1,2],[3,4,5]]
        Tensor cols = t(new double[] {99, 99, 99}, 3);         // garbage must be overwritten
        R.sum(new int[] {2, 3}, x, new int[] {0, 1}, cols);
        assertThat(vals(cols)).containsExactly(3, 5, 7);
        Tensor rows = atOffset(new double[] {99, 99}, 1, 2);
        R.sum(new int[] {2, 3}, x, new int[] {1, 0}, rows);
        assertThat(vals(rows)).containsExactly(3, 12);
        Tensor all = t(new double[] {-1}, new int[0]);
        R.sum(new int[] {2, 3}, x, new int[] {0, 0}, all);
        assertThat(vals(all)).containsExactly(15);
    }

    @Test
    void softmaxRowsSumToOneAndMatchDefinition() {
        Tensor x = t(new double[] {1, 2, 3, 1000, 1000, 1000}, 2, 3);
        Tensor y = zeros(2, 3);
        R.softmax(x, y, 2, 3, 1, false);
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertClose(vals(y), new double[] {Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z, 1 / 3.0, 1 / 3.0, 1 / 3.0}, TOL);
        R.softmax(x, y, 2, 3, 1, true);
        assertClose(vals(y), new double[] {1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z),
                -Math.log(3), -Math.log(3), -Math.log(3)}, TOL);
    }

    @Test
    void softmaxAlongMiddleAxis() {
        // shape (2, 3, 2): outer 2, n 3, inner 2; each (o, j) column of 3 must sum to 1
        double[] data = random(new Random(1), 12);
        Tensor y = zeros(2, 3, 2);
        R.softmax(t(data, 2, 3, 2), y, 2, 3, 2, false);
        double[] v = vals(y);
        for (int o = 0; o < 2; o++) {
            for (int j = 0; j < 2; j++) {
                double z = 0;
                for (int i = 0; i < 3; i++) z += Math.exp(data[o * 6 + i * 2 + j]);
                for (int i = 0; i < 3; i++) {
                    int p = o * 6 + i * 2 + j;
                    assertThat(v[p]).isCloseTo(Math.exp(data[p]) / z, within(TOL));
                }
            }
        }
    }

    @Test
    void softmaxBackwardMatchesFiniteDifferences() {
        Random rng = new Random(7);
        int outer = 2, n = 4, inner = 3;
        double[] x = random(rng, outer * n * inner);
        double[] c = random(rng, x.length);
        for (boolean log : new boolean[] {false, true}) {
            UnaryOperator<double[]> f = xv -> {
                Tensor y = zeros(outer, n, inner);
                R.softmax(t(xv, outer, n, inner), y, outer, n, inner, log);
                return vals(y);
            };
            Tensor dx = zeros(outer, n, inner);
            R.softmaxBackward(t(f.apply(x), outer, n, inner), t(c, outer, n, inner), dx, outer, n, inner, log);
            assertClose(vals(dx), numericGrad(f, x, c), 1e-7);
        }
    }

    // ------------------------------------------------------------------ gemm

    // A = [[1,2,3],[4,5,6]] (2x3), B = [[7,8],[9,10],[11,12]] (3x2), A·B = [[58,64],[139,154]]
    private final double[] gemmA = {1, 2, 3, 4, 5, 6};
    private final double[] gemmAT = {1, 4, 2, 5, 3, 6};
    private final double[] gemmB = {7, 8, 9, 10, 11, 12};
    private final double[] gemmBT = {7, 9, 11, 8, 10, 12};

    @Test
    void everyTransposeCombination() {
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                Tensor c = t(new double[] {1, 2, 3, 4}, 2, 2);
                R.gemm(ta, tb, 1, 2, 2, 3, 1.0, t(ta ? gemmAT : gemmA, ta ? 3 : 2, ta ? 2 : 3), 0,
                        t(tb ? gemmBT : gemmB, tb ? 2 : 3, tb ? 3 : 2), 0, 0.0, c, 0);
                assertThat(vals(c)).as("transA=%s transB=%s", ta, tb).containsExactly(58, 64, 139, 154);
            }
        }
    }

    @Test
    void alphaAndBeta() {
        Tensor c = t(new double[] {1, 2, 3, 4}, 2, 2);
        R.gemm(false, true, 1, 2, 2, 3, 2.0, t(gemmA, 2, 3), 0, t(gemmBT, 2, 3), 0, 0.5, c, 0);
        // 2·AB + 0.5·C
        assertThat(vals(c)).containsExactly(116.5, 129, 279.5, 310);
    }

    @Test
    void betaZeroDoesNotReadC() {
        Tensor c = t(new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN}, 2, 2);
        R.gemm(false, false, 1, 2, 2, 3, 1.0, t(gemmA, 2, 3), 0, t(gemmB, 3, 2), 0, 0.0, c, 0);
        assertThat(vals(c)).containsExactly(58, 64, 139, 154);
    }

    @Test
    void batchedWithBroadcastAndOffsets() {
        // A_0 = A, A_1 = −A; B shared (stride 0); C at offset 3 with stride 4
        double[] a2 = new double[12];
        for (int i = 0; i < 6; i++) {
            a2[i] = gemmA[i];
            a2[6 + i] = -gemmA[i];
        }
        Tensor c = atOffset(new double[8], 3, 2, 2, 2);
        R.gemm(false, false, 2, 2, 2, 3, 1.0, t(a2, 2, 2, 3), 6, atOffset(gemmB, 1, 3, 2), 0, 0.0, c, 4);
        assertThat(vals(c)).containsExactly(58, 64, 139, 154, -58, -64, -139, -154);
    }

    @Test
    void batchedMatchesNaiveMatmulForRandomShapes() {
        Random rng = new Random(3);
        int batch = 3, m = 4, n = 5, k = 6;
        double[] av = random(rng, batch * m * k), bv = random(rng, batch * k * n);
        Tensor c = zeros(batch, m, n);
        R.gemm(false, false, batch, m, n, k, 1.0, t(av, batch, m, k), m * k, t(bv, batch, k, n), k * n, 0.0, c, m * n);
        double[] cv = vals(c);
        for (int bi = 0; bi < batch; bi++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += av[bi * m * k + i * k + p] * bv[bi * k * n + p * n + j];
                    assertThat(cv[bi * m * n + i * n + j]).isCloseTo(s, within(1e-12));
                }
    }

    // ------------------------------------------------------------------ convolution

    @Test
    void handComputedStridePaddingDilation() {
        // x = 0..15 as 4x4, w = [[1,2],[3,4]], stride 2, pad 1, dilation 2 -> oh = ow = 2.
        // Tap rows for oy: 2·oy − 1 + {0, 2}; (0,0) sees only x[1][1]·w[1][1] = 5·4 = 20;
        // (0,1): x[1][1]·3 + x[1][3]·4 = 15 + 28 = 43; (1,0): x[1][1]·2 + x[3][1]·4 = 10 + 52 = 62;
        // (1,1): 5·1 + 7·2 + 13·3 + 15·4 = 118. Bias 0.5.
        ConvGeometry g = ConvGeometry.of(new int[] {1, 1, 4, 4}, new int[] {1, 1, 2, 2},
                new int[] {2, 2}, new int[] {1, 1}, new int[] {2, 2}, 1);
        assertThat(g.oh()).isEqualTo(2);
        Tensor y = zeros(1, 1, 2, 2);
        R.conv2dForward(g, t(range(16), 1, 1, 4, 4), t(new double[] {1, 2, 3, 4}, 1, 1, 2, 2),
                t(new double[] {0.5}, 1), y);
        assertThat(vals(y)).containsExactly(20.5, 43.5, 62.5, 118.5);
    }

    private final int[] convXShape = {2, 4, 5, 6};
    private final int[] convWShape = {6, 2, 3, 2};   // groups 2: 4 -> 6 channels, 2 in and 3 out per group

    private ConvGeometry geometry() {
        return ConvGeometry.of(convXShape, convWShape, new int[] {2, 1}, new int[] {1, 2}, new int[] {2, 3}, 2);
    }

    /** Independent formulation: per (image, group), Y_g = W_g (ocpg × icpg·kh·kw) · im2col(x_g). */
    private double[] im2colConv(ConvGeometry g, double[] x, double[] w, double[] bias) {
        int icpg = g.inPerGroup(), ocpg = g.outPerGroup(), rows = icpg * g.kh() * g.kw(), cols = g.oh() * g.ow();
        double[] y = new double[g.n() * g.outC() * cols];
        for (int ni = 0; ni < g.n(); ni++) {
            for (int grp = 0; grp < g.groups(); grp++) {
                double[][] col = new double[rows][cols];
                for (int r = 0; r < rows; r++) {
                    int icg = r / (g.kh() * g.kw()), ky = r / g.kw() % g.kh(), kx = r % g.kw();
                    for (int q = 0; q < cols; q++) {
                        int iy = (q / g.ow()) * g.strideH() + ky * g.dilationH() - g.padH();
                        int ix = (q % g.ow()) * g.strideW() + kx * g.dilationW() - g.padW();
                        boolean inside = iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w();
                        int ic = grp * icpg + icg;
                        col[r][q] = inside ? x[((ni * g.inC() + ic) * g.h() + iy) * g.w() + ix] : 0;
                    }
                }
                for (int o = 0; o < ocpg; o++) {
                    int oc = grp * ocpg + o;
                    for (int q = 0; q < cols; q++) {
                        double s = bias == null ? 0 : bias[oc];
                        for (int r = 0; r < rows; r++) s += w[oc * rows + r] * col[r][q];
                        y[(ni * g.outC() + oc) * cols + q] = s;
                    }
                }
            }
        }
        return y;
    }

    @Test
    void forwardMatchesIm2colWithGroupsStridePaddingDilation() {
        ConvGeometry g = geometry();
        assertThat(g.oh()).isEqualTo(2);   // (5 + 2 − 2·2 − 1) / 2 + 1
        assertThat(g.ow()).isEqualTo(7);   // (6 + 4 − 3·1 − 1) / 1 + 1
        Random rng = new Random(11);
        double[] x = random(rng, Shapes.numel(convXShape)), w = random(rng, Shapes.numel(convWShape)), bias = random(rng, 6);
        Tensor y = zeros(g.outputShape());
        R.conv2dForward(g, t(x, convXShape), t(w, convWShape), t(bias, 6), y);
        assertClose(vals(y), im2colConv(g, x, w, bias), 1e-12);
        R.conv2dForward(g, t(x, convXShape), t(w, convWShape), null, y);
        assertClose(vals(y), im2colConv(g, x, w, null), 1e-12);
    }

    @Test
    void backwardKernelsAreAdjointsOfTheForward() {
        // <conv(x, w), dy> = <x, backwardData(dy, w)> = <w, backwardWeight(x, dy)>
        ConvGeometry g = geometry();
        Random rng = new Random(12);
        double[] x = random(rng, Shapes.numel(convXShape)), w = random(rng, Shapes.numel(convWShape));
        double[] dy = random(rng, Shapes.numel(g.outputShape()));
        double lhs = dot(im2colConv(g, x, w, null), dy);
        Tensor dx = t(random(rng, x.length), convXShape);   // garbage: must be overwritten
        R.conv2dBackwardData(g, t(dy, g.outputShape()), t(w, convWShape), dx);
        assertThat(dot(x, vals(dx))).isCloseTo(lhs, within(1e-10));
        Tensor dw = t(random(rng, w.length), convWShape);
        R.conv2dBackwardWeight(g, t(x, convXShape), t(dy, g.outputShape()), dw);
        assertThat(dot(w, vals(dw))).isCloseTo(lhs, within(1e-10));
        // and element-wise: each dx is the derivative of <y, dy> (linear, so one-hot probes are exact)
        double[] e = new double[x.length];
        for (int i : new int[] {0, 7, 33, x.length - 1}) {
            e[i] = 1;
            assertThat(vals(dx)[i]).isCloseTo(dot(im2colConv(g, e, w, null), dy), within(1e-12));
            e[i] = 0;
        }
    }

    // ------------------------------------------------------------------ batch norm

    // x (n=2, c=2, hw=3): channel 0 holds {1,2,3, 7,8,9}, channel 1 holds {0,0,0, 4,4,4}
    private final double[] bnX = {1, 2, 3, 0, 0, 0, 7, 8, 9, 4, 4, 4};

    @Test
    void statsAreMeanAndBiasedVariance() {
        Tensor mean = zeros(2), var = zeros(2);
        R.batchNormStats(2, 2, 3, t(bnX, 2, 2, 3), mean, var);
        // channel 0: mean 5, deviations ±4,±3,±2 -> (16+9+4)·2/6 = 29/3; channel 1: mean 2, var 4
        assertClose(vals(mean), new double[] {5, 2}, TOL);
        assertClose(vals(var), new double[] {29 / 3.0, 4}, TOL);
    }

    @Test
    void forwardAppliesAffine() {
        Tensor y = zeros(2, 2, 3);
        R.batchNormForward(2, 2, 3, t(bnX, 2, 2, 3), t(new double[] {5, 2}, 2), t(new double[] {0.5, 2}, 2),
                t(new double[] {2, 1}, 2), t(new double[] {1, -1}, 2), y);
        // channel 0: (x − 5)·0.5·2 + 1 = x − 4; channel 1: (x − 2)·2 − 1
        assertThat(vals(y)).containsExactly(-3, -2, -1, -5, -5, -5, 3, 4, 5, 3, 3, 3);
        R.batchNormForward(2, 2, 3, t(bnX, 2, 2, 3), t(new double[] {5, 2}, 2), t(new double[] {0.5, 2}, 2), null, null, y);
        assertThat(vals(y)).containsExactly(-2, -1.5, -1, -4, -4, -4, 1, 1.5, 2, 4, 4, 4);
    }

    /** y = batchnorm(x) with statistics computed from x itself, as training mode does. */
    private double[] trainForward(double[] xv, double[] w, double[] b, int n, int c, int hw) {
        Tensor mean = zeros(c), var = zeros(c), y = zeros(n, c, hw);
        R.batchNormStats(n, c, hw, t(xv, n, c, hw), mean, var);
        double[] invStd = new double[c];
        for (int i = 0; i < c; i++) invStd[i] = 1 / Math.sqrt(vals(var)[i] + 1e-5);
        R.batchNormForward(n, c, hw, t(xv, n, c, hw), mean, t(invStd, c), t(w, c), t(b, c), y);
        return vals(y);
    }

    @Test
    void trainingBackwardMatchesFiniteDifferences() {
        Random rng = new Random(5);
        int n = 3, c = 2, hw = 4;
        double[] xv = random(rng, n * c * hw), w = {1.5, -0.7}, b = {0.2, 0.3}, dy = random(rng, xv.length);
        Tensor mean = zeros(c), var = zeros(c);
        R.batchNormStats(n, c, hw, t(xv, n, c, hw), mean, var);
        double[] invStd = new double[c];
        for (int i = 0; i < c; i++) invStd[i] = 1 / Math.sqrt(vals(var)[i] + 1e-5);
        Tensor dx = zeros(n, c, hw), dw = zeros(c), db = zeros(c);
        R.batchNormBackward(n, c, hw, t(xv, n, c, hw), t(dy, n, c, hw), mean, t(invStd, c), t(w, c), true, dx, dw, db);
        assertClose(vals(dx), numericGrad(xx -> trainForward(xx, w, b, n, c, hw), xv, dy), 1e-6);
        assertClose(vals(dw), numericGrad(ww -> trainForward(xv, ww, b, n, c, hw), w, dy), 1e-6);
        assertClose(vals(db), numericGrad(bb -> trainForward(xv, w, bb, n, c, hw), b, dy), 1e-6);
        // null outputs are skipped; null weight means 1
        Tensor dx1 = zeros(n, c, hw);
        R.batchNormBackward(n, c, hw, t(xv, n, c, hw), t(dy, n, c, hw), mean, t(invStd, c), null, true, dx1, null, null);
        assertClose(vals(dx1), numericGrad(xx -> trainForward(xx, new double[] {1, 1}, b, n, c, hw), xv, dy), 1e-6);
    }

    @Test
    void evalBackwardTreatsStatisticsAsConstants() {
        Tensor dx = zeros(2, 2, 3), dw = zeros(2), db = zeros(2);
        double[] dy = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2};
        R.batchNormBackward(2, 2, 3, t(bnX, 2, 2, 3), t(dy, 2, 2, 3), t(new double[] {5, 2}, 2),
                t(new double[] {0.5, 2}, 2), t(new double[] {2, 3}, 2), false, dx, dw, db);
        // dx = dy·w·invStd: channel 0 1·2·0.5 = 1, channel 1 2·3·2 = 12
        assertThat(vals(dx)).containsExactly(1, 1, 1, 12, 12, 12, 1, 1, 1, 12, 12, 12);
        // dBias = Σdy; dWeight = Σ dy·(x − mean)·invStd: ch0 0.5·(−4−3−2+2+3+4) = 0, ch1 2·2·(−2·3 + 2·3) = 0
        assertThat(vals(db)).containsExactly(6, 12);
        assertThat(vals(dw)).containsExactly(0, 0);
        R.batchNormBackward(2, 2, 3, t(bnX, 2, 2, 3), t(range(12), 2, 2, 3), t(new double[] {5, 2}, 2),
                t(new double[] {0.5, 2}, 2), null, false, null, dw, null);
        // ch0: 0.5·(0·−4 + 1·−3 + 2·−2 + 6·2 + 7·3 + 8·4) = 0.5·58 = 29; ch1: 2·(−2·(3+4+5) + 2·(9+10+11)) = 72
        assertThat(vals(dw)).containsExactly(29, 72);
    }

    // ------------------------------------------------------------------ pooling

    private PoolGeometry pool(int h, int w, int k, int s, int p, int d, boolean ceil, boolean includePad) {
        return PoolGeometry.of(new int[] {1, 1, h, w}, new int[] {k, k}, new int[] {s, s}, new int[] {p, p},
                new int[] {d, d}, ceil, includePad);
    }

    @Test
    void maxPoolCeilModeCoversTheRagged() {
        PoolGeometry g = pool(5, 5, 2, 2, 0, 1, true, true);
        assertThat(g.oh()).isEqualTo(3);
        Tensor y = zeros(1, 1, 3, 3);
        R.maxPool2dForward(g, t(range(25), 1, 1, 5, 5), y);
        assertThat(vals(y)).containsExactly(6, 8, 9, 16, 18, 19, 21, 23, 24);
    }

    @Test
    void maxPoolPaddingIsMinusInfinityAndDilationSkips() {
        double[] neg = new double[9];
        for (int i = 0; i < 9; i++) neg[i] = -10 - i;                 // all negative: padding must not win
        PoolGeometry g = pool(3, 3, 2, 2, 1, 1, false, true);         // oh = (3 + 2 − 1 − 1) / 2 + 1 = 2
        Tensor y = zeros(1, 1, 2, 2);
        R.maxPool2dForward(g, t(neg, 1, 1, 3, 3), y);
        assertThat(vals(y)).containsExactly(-10, -11, -13, -14);
        PoolGeometry dil = pool(4, 4, 2, 1, 0, 2, false, true);       // taps (i, i+2): oh = 2
        Tensor yd = zeros(1, 1, 2, 2);
        double[] x = {9, 0, 1, 0, 0, 0, 0, 8, 2, 0, 3, 0, 0, 7, 0, 0};
        R.maxPool2dForward(dil, t(x, 1, 1, 4, 4), yd);
        // (0,0): max(x00=9, x02=1, x20=2, x22=3) = 9; (0,1): x01,x03,x21,x23 = 0; (1,0): x10,x12,x30,x32 = 0;
        // (1,1): x11, x13 = 8, x31 = 7, x33 = 0 -> 8
        assertThat(vals(yd)).containsExactly(9, 0, 0, 8);
    }

    @Test
    void maxPoolBackwardRoutesToFirstMaximumAndAccumulates() {
        // x = [[5,5,5],[5,1,5]], kernel 2, stride 1 -> 1x2 output, windows over columns {0,1} and {1,2}
        double[] x = {5, 5, 5, 5, 1, 5};
        PoolGeometry g = PoolGeometry.of(new int[] {1, 1, 2, 3}, new int[] {2, 2}, new int[] {1, 1},
                new int[] {0, 0}, new int[] {1, 1}, false, true);
        Tensor dx = t(new double[] {9, 9, 9, 9, 9, 9}, 1, 1, 2, 3);
        R.maxPool2dBackward(g, t(x, 1, 1, 2, 3), t(new double[] {1, 10}, 1, 1, 1, 2), dx);
        // window 0 ties at (0,0) first; window 1 (cols 1,2) first maximum is (0,1)
        assertThat(vals(dx)).containsExactly(1, 10, 0, 0, 0, 0);
        // overlapping windows both choosing the same element accumulate
        double[] peak = {0, 9, 0, 0, 0, 0};
        R.maxPool2dBackward(g, t(peak, 1, 1, 2, 3), t(new double[] {1, 10}, 1, 1, 1, 2), dx);
        assertThat(vals(dx)).containsExactly(0, 11, 0, 0, 0, 0);
    }

    @Test
    void avgPoolWithAndWithoutCountIncludePad() {
        // 4x4 = 0..15, kernel 3, stride 2, pad 1 -> 2x2
        // (0,0): rows/cols [-1,2) -> real {0,1,4,5} sum 10, padded count 9, real count 4
        // (0,1): cols [1,4) -> real rows 0..1, cols 1..3: 1+2+3+5+6+7 = 24, 9 vs 6
        // (1,0): rows [1,4), cols 0..1: 4+5+8+9+12+13 = 51, 9 vs 6; (1,1): rows,cols [1,4): 5+6+7+9+10+11+13+14+15 = 90, 9
        Tensor y = zeros(1, 1, 2, 2);
        R.avgPool2dForward(pool(4, 4, 3, 2, 1, 1, false, true), t(range(16), 1, 1, 4, 4), y);
        assertClose(vals(y), new double[] {10 / 9.0, 24 / 9.0, 51 / 9.0, 10}, TOL);
        R.avgPool2dForward(pool(4, 4, 3, 2, 1, 1, false, false), t(range(16), 1, 1, 4, 4), y);
        assertClose(vals(y), new double[] {2.5, 4, 8.5, 10}, TOL);
    }

    @Test
    void avgPoolCeilModeDivisorStopsAtThePaddedEdge() {
        // 6x6, kernel 3, stride 2, pad 1, ceil -> 4x4. The last window starts at row 5 and would run to 8,
        // but PyTorch clips it to h + pad = 7 before counting: pool_size = 2·2 = 4 with count_include_pad,
        // while only x[5][5] = 35 is real.
        PoolGeometry g = pool(6, 6, 3, 2, 1, 1, true, true);
        assertThat(g.oh()).isEqualTo(4);
        Tensor y = zeros(1, 1, 4, 4);
        R.avgPool2dForward(g, t(range(36), 1, 1, 6, 6), y);
        assertThat(vals(y)[15]).isCloseTo(35 / 4.0, within(TOL));
        assertThat(vals(y)[0]).isCloseTo((0 + 1 + 6 + 7) / 9.0, within(TOL));
        // (0,3): rows [-1,2) (3), cols [5,7) (2): divisor 6, real {5, 11}
        assertThat(vals(y)[3]).isCloseTo(16 / 6.0, within(TOL));
        PoolGeometry noPad = pool(6, 6, 3, 2, 1, 1, true, false);
        R.avgPool2dForward(noPad, t(range(36), 1, 1, 6, 6), y);
        assertThat(vals(y)[15]).isCloseTo(35, within(TOL));
        assertThat(vals(y)[3]).isCloseTo(8, within(TOL));
    }

    @Test
    void avgPoolBackwardIsAdjointOfForward() {
        Random rng = new Random(9);
        for (boolean include : new boolean[] {true, false}) {
            PoolGeometry g = pool(6, 6, 3, 2, 1, 1, true, include);
            double[] x = random(rng, 36), dy = random(rng, 16);
            Tensor y = zeros(1, 1, 4, 4), dx = zeros(1, 1, 6, 6);
            R.avgPool2dForward(g, t(x, 1, 1, 6, 6), y);
            R.avgPool2dBackward(g, t(dy, 1, 1, 4, 4), dx);
            assertThat(dot(vals(dx), x)).isCloseTo(dot(vals(y), dy), within(1e-12));
        }
    }

    @Test
    void adaptiveAvgPoolFiveToThree() {
        // windows [0,2), [1,4), [3,5); x[r][c] = 5r + c so each cell is 5·mean(rows) + mean(cols)
        double[] m = {0.5, 2, 3.5};
        Tensor y = zeros(1, 1, 3, 3);
        R.adaptiveAvgPool2dForward(1, 5, 5, 3, 3, t(range(25), 1, 1, 5, 5), y);
        double[] expected = new double[9];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) expected[i * 3 + j] = 5 * m[i] + m[j];
        assertClose(vals(y), expected, TOL);
        // backward of all-ones: dx[r][c] = f(r)·f(c), f = (1/2, 1/2 + 1/3, 1/3, 1/3 + 1/2, 1/2)
        double[] f = {0.5, 0.5 + 1 / 3.0, 1 / 3.0, 1 / 3.0 + 0.5, 0.5};
        Tensor dx = t(random(new Random(2), 25), 1, 1, 5, 5);
        R.adaptiveAvgPool2dBackward(1, 5, 5, 3, 3, t(new double[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 3, 3), dx);
        double[] expectedDx = new double[25];
        for (int r = 0; r < 5; r++) for (int c = 0; c < 5; c++) expectedDx[r * 5 + c] = f[r] * f[c];
        assertClose(vals(dx), expectedDx, TOL);
    }

    @Test
    void adaptiveAvgPoolGlobalAndUpsampling() {
        Tensor y = zeros(2, 1, 1);
        R.adaptiveAvgPool2dForward(2, 2, 3, 1, 1, t(range(12), 2, 2, 3), y);
        assertClose(vals(y), new double[] {2.5, 8.5}, TOL);
        // 2 -> 3: windows [0,1), [0,2), [1,2)
        Tensor up = zeros(1, 3, 1);
        R.adaptiveAvgPool2dForward(1, 2, 1, 3, 1, t(new double[] {4, 8}, 1, 2, 1), up);
        assertClose(vals(up), new double[] {4, 6, 8}, TOL);
    }

    // ------------------------------------------------------------------ optimizers

    @Test
    void sgdMomentumNesterovAndDampening() {
        // step 1 (nesterov): g = 0.5 + 0.01·1 = 0.51; buf = 0.51; g = 0.51 + 0.9·0.51 = 0.969; p = 1 − 0.0969
        Tensor p = t(new double[] {1}, 1), buf = zeros(1);
        R.sgdStep(p, t(new double[] {0.5}, 1), buf, 0.1, 0.9, 0, 0.01, true, true);
        assertThat(vals(p)[0]).isCloseTo(0.9031, within(TOL));
        assertThat(vals(buf)[0]).isCloseTo(0.51, within(TOL));
        // step 2: g = 0.5 + 0.009031 = 0.509031; buf = 0.9·0.51 + 0.509031 = 0.968031;
        // g = 0.509031 + 0.9·0.968031 = 1.3802589; p = 0.9031 − 0.13802589 = 0.76507411
        R.sgdStep(p, t(new double[] {0.5}, 1), buf, 0.1, 0.9, 0, 0.01, true, false);
        assertThat(vals(buf)[0]).isCloseTo(0.968031, within(TOL));
        assertThat(vals(p)[0]).isCloseTo(0.76507411, within(TOL));
        // plain momentum, first step: buf = g = 0.51 and p = 1 − 0.051 (dampening ignored on the first step)
        Tensor p1 = t(new double[] {1}, 1), buf1 = t(new double[] {123}, 1);
        R.sgdStep(p1, t(new double[] {0.5}, 1), buf1, 0.1, 0.9, 0.5, 0.01, false, true);
        assertThat(vals(p1)[0]).isCloseTo(0.949, within(TOL));
        assertThat(vals(buf1)[0]).isCloseTo(0.51, within(TOL));
        // plain momentum with dampening 0.1 from the same state after step 1:
        // buf = 0.459 + 0.9·0.50949 = 0.917541; p = 0.949 − 0.0917541 = 0.8572459
        Tensor p2 = t(new double[] {0.949}, 1), buf2 = t(new double[] {0.51}, 1);
        R.sgdStep(p2, t(new double[] {0.5}, 1), buf2, 0.1, 0.9, 0.1, 0.01, false, false);
        assertThat(vals(p2)[0]).isCloseTo(0.8572459, within(TOL));
        // no momentum: buffer may be null
        Tensor p3 = t(new double[] {2, -1}, 2);
        R.sgdStep(p3, t(new double[] {1, 1}, 2), null, 0.5, 0, 0, 0, false, true);
        assertThat(vals(p3)).containsExactly(1.5, -1.5);
    }

    @Test
    void adamwFirstStepByHand() {
        // p ← 1·(1 − 0.1·0.01) = 0.999; m = 0.05; v = 0.00025; bias corrections 0.1 and 0.001;
        // denom = sqrt(0.00025)/sqrt(0.001) + 1e-8 = 0.5 + 1e-8; p = 0.999 − (0.1/0.1)·0.05/(0.5 + 1e-8)
        Tensor p = t(new double[] {1}, 1), m = zeros(1), v = zeros(1);
        R.adamwStep(p, t(new double[] {0.5}, 1), m, v, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
        assertThat(vals(m)[0]).isCloseTo(0.05, within(TOL));
        assertThat(vals(v)[0]).isCloseTo(0.00025, within(TOL));
        assertThat(vals(p)[0]).isCloseTo(0.999 - 0.05 / (0.5 + 1e-8), within(TOL));
        assertThat(vals(p)[0]).isCloseTo(0.899000002, within(1e-9));
    }

    @Test
    void adamwSecondStepMatchesTheTextbookForm() {
        // from p = 0.899, m = 0.05, v = 0.00025 at t = 2 with g = −0.2 and eps = 0, PyTorch's
        // p −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2)) equals the textbook p −= lr·m̂ / sqrt(v̂)
        Tensor p = t(new double[] {0.899}, 1), m = t(new double[] {0.05}, 1), v = t(new double[] {0.00025}, 1);
        R.adamwStep(p, t(new double[] {-0.2}, 1), m, v, 0.1, 0.9, 0.999, 0, 0.01, 2);
        double pd = 0.899 * 0.999, mt = 0.9 * 0.05 - 0.1 * 0.2, vt = 0.999 * 0.00025 + 0.001 * 0.04;
        double mHat = mt / (1 - 0.81), vHat = vt / (1 - 0.999 * 0.999);
        assertThat(vals(m)[0]).isCloseTo(0.025, within(TOL));
        assertThat(vals(v)[0]).isCloseTo(0.00028975, within(TOL));
        assertThat(vals(p)[0]).isCloseTo(pd - 0.1 * mHat / Math.sqrt(vHat), within(1e-12));
    }

    @Test
    void runsOverFloat32Storage() {
        // the first-step numbers above, stored as float
        FloatStorage ps = new FloatStorage(new float[] {1f}), ms = new FloatStorage(new float[1]), vs = new FloatStorage(new float[1]);
        Tensor p = new Tensor(ps, new int[] {1}, new int[] {1}, 0);
        R.adamwStep(p, new Tensor(new FloatStorage(new float[] {0.5f}), new int[] {1}, new int[] {1}, 0),
                new Tensor(ms, new int[] {1}, new int[] {1}, 0), new Tensor(vs, new int[] {1}, new int[] {1}, 0),
                0.1, 0.9, 0.999, 1e-8, 0.01, 1);
        assertThat(ps.data[0]).isCloseTo(0.899f, within(1e-6f));
        assertThat(ms.data[0]).isEqualTo((float) (0.1 * 0.5));
    }
}
