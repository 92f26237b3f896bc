package dev.graft.backend.cpu;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * The float32 CPU backend: {@link FloatStorage} memory and kernels that work on the {@code float[]}
 * directly. This class holds memory, copies and dispatch; the kernels live in {@link Sgemm},
 * {@link CpuElementwise}, {@link CpuReductions}, {@link CpuConvolution} (with {@link CpuDepthwise}),
 * {@link CpuNormalization}, {@link CpuPooling} and {@link CpuOptimizers}. Work is spread over
 * {@link Parallel}'s threads, and every kernel gives bit-identical results for any thread count.
 * The Vector API ({@code jdk.incubator.vector}) is used only inside this package.
 */
public final class CpuBackend implements Backend {
    private static final CpuBackend INSTANCE = new CpuBackend();

    /** Elements below which element-wise loops are not worth splitting over threads. */
    static final int GRAIN = 1 << 15;

    private CpuBackend() {}

    public static CpuBackend instance() {
        return INSTANCE;
    }

    @Override public Device device() { return Device.CPU; }

    @Override public DType dtype() { return DType.FLOAT32; }

    @Override public String toString() { return "CpuBackend(float32)"; }

    /**
     * The SIMD width the kernels use: the Vector API's preferred float species on this machine, e.g.
     * "512 bits (16 floats)".
     */
    public static String vectorWidth() {
        try {
            jdk.incubator.vector.VectorSpecies<Float> s = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
            return s.vectorBitSize() + " bits (" + s.length() + " floats)";
        } catch (LinkageError e) {
            return "not available (start the JVM with --add-modules jdk.incubator.vector)";
        }
    }

    /** The backing array of a tensor of this backend. */
    static float[] data(Tensor t) {
        return data(t.storage());
    }

    static float[] data(Storage s) {
        if (s instanceof FloatStorage f) return f.data;
        throw new GraftException("CpuBackend (float32) got a tensor stored in " + s.getClass().getSimpleName()
                + " of backend " + s.backend() + "; move it with tensor.to(...) first");
    }

    // ---------------------------------------------------------------- memory

    /** Zeros; large arrays come from {@link CpuMemory}'s pool. */
    @Override
    public Storage allocate(int size) {
        return CpuMemory.zeros(size);
    }

    @Override
    public Storage allocateUninitialized(int size) {
        return CpuMemory.uninitialized(size);
    }

    @Override
    public void release(Storage storage) {
        if (storage instanceof FloatStorage f) CpuMemory.release(f);
    }

    /** Takes ownership of {@code values} (callers pass a fresh array). */
    @Override
    public Storage fromFloats(float[] values) {
        return new FloatStorage(values);
    }

    @Override
    public Storage fromDoubles(double[] values) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
        return new FloatStorage(f);
    }

    @Override
    public void readFloats(Storage src, int srcOffset, float[] dst, int dstOffset, int count) {
        System.arraycopy(data(src), srcOffset, dst, dstOffset, count);
    }

    @Override
    public void readDoubles(Storage src, int srcOffset, double[] dst, int dstOffset, int count) {
        float[] s = data(src);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = s[srcOffset + i];
    }

    @Override
    public void copy(int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides) {
        copyArrays(shape, data(src), srcOffset, srcStrides, data(dst), dstOffset, dstStrides);
    }

    private static void copyArrays(int[] shape, float[] s, int srcOffset, int[] srcStrides, float[] d, int dstOffset, int[] dstStrides) {
        for (int x : shape) if (x == 0) return;
        // Merge dimensions that are contiguous in both views so the inner loop is as long as possible.
        int[][] co = Shapes.coalesce(shape, srcStrides, dstStrides);
        int[] sh = co[0];
        int rank = sh.length;
        if (rank == 0) {
            d[dstOffset] = s[srcOffset];
            return;
        }
        int inner = sh[rank - 1], sIn = co[1][rank - 1], dIn = co[2][rank - 1];
        if (rank == 1 && sIn == 1 && dIn == 1) {
            System.arraycopy(s, srcOffset, d, dstOffset, inner); // handles overlap like memmove
            return;
        }
        if (s == d && Shapes.overlaps(sh, srcOffset, co[1], dstOffset, co[2])) {
            // Overlapping views of one array: gather first, then scatter (as if through a temporary).
            int count = Strided.rows(sh) * inner;
            float[] tmp = new float[count];
            int[] dense = Shapes.contiguousStrides(sh);
            copyRows(sh, s, srcOffset, co[1], tmp, 0, dense);
            copyRows(sh, tmp, 0, dense, d, dstOffset, co[2]);
            return;
        }
        copyRows(sh, s, srcOffset, co[1], d, dstOffset, co[2]);
    }

    private static void copyRows(int[] sh, float[] s, int srcOffset, int[] ss, float[] d, int dstOffset, int[] ds) {
        int rank = sh.length, inner = sh[rank - 1], sIn = ss[rank - 1], dIn = ds[rank - 1];
        int[][] strides = {ss, ds};
        int[] base = {srcOffset, dstOffset};
        int grain = Math.max(1, GRAIN / inner);
        for (int x : ds) if (x == 0) grain = Integer.MAX_VALUE; // repeated writes to one element: keep index order
        Parallel.forRange(0, Strided.rows(sh), grain, (r0, r1) -> {
            Strided cur = new Strided(sh, strides, base, r0);
            for (int r = r0; r < r1; r++, cur.next()) {
                int so = cur.off[0], dOff = cur.off[1];
                if (sIn == 1 && dIn == 1) System.arraycopy(s, so, d, dOff, inner);
                else if (sIn == 0 && dIn == 1) Arrays.fill(d, dOff, dOff + inner, s[so]);
                else for (int j = 0; j < inner; j++) d[dOff + j * dIn] = s[so + j * sIn];
            }
        });
    }

    @Override
    public void fill(Tensor dst, double value) {
        float[] d = data(dst);
        int off = dst.offset(), n = dst.numel();
        float v = (float) value;
        Parallel.forRange(0, n, 4 * GRAIN, (s, e) -> Arrays.fill(d, off + s, off + e, v));
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor y) {
        CpuElementwise.unary(op, data(x), x.offset(), data(y), y.offset(), x.numel());
    }

    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx) {
        CpuElementwise.unaryBackward(op, data(x), x.offset(), data(dy), dy.offset(), data(dx), dx.offset(), x.numel());
    }

    @Override
    public void binary(BinaryOp op, int[] shape, Tensor a, int[] aStrides, Tensor b, int[] bStrides, Tensor out) {
        CpuElementwise.binary(op, shape, data(a), a.offset(), aStrides, data(b), b.offset(), bStrides, data(out), out.offset());
    }

    @Override
    public void scalar(ScalarOp op, Tensor x, double s, Tensor y) {
        CpuElementwise.scalar(op, data(x), x.offset(), s, data(y), y.offset(), x.numel());
    }

    // ---------------------------------------------------------------- reductions

    @Override
    public void sum(int[] shape, Tensor x, int[] outStrides, Tensor out) {
        CpuReductions.sum(shape, data(x), x.offset(), outStrides, data(out), out.offset(), out.numel());
    }

    @Override
    public void softmax(Tensor x, Tensor y, int outer, int n, int inner, boolean log) {
        CpuReductions.softmax(data(x), x.offset(), data(y), y.offset(), outer, n, inner, log);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log) {
        CpuReductions.softmaxBackward(data(y), y.offset(), data(dy), dy.offset(), data(dx), dx.offset(), outer, n, inner, log);
    }

    // ---------------------------------------------------------------- linear algebra

    @Override
    public void gemm(boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
                     Tensor a, int strideA, Tensor b, int strideB, double beta, Tensor c, int strideC) {
        float[] ad = data(a), bd = data(b), cd = data(c);
        int ao = a.offset(), bo = b.offset(), co = c.offset();
        int lda = transA ? m : k, ldb = transB ? k : n, ldc = n;
        float al = (float) alpha, be = (float) beta;
        long work = (long) m * n * k;
        // Many small products: one whole product per thread. Large ones: Sgemm splits each product.
        if (batch > 1 && strideC != 0 && work < (1L << 21)) {
            Parallel.forRange(0, batch, Math.max(1, (int) ((1L << 18) / Math.max(1, work))), (s, e) -> {
                for (int i = s; i < e; i++)
                    Sgemm.sgemm(transA, transB, m, n, k, al, ad, ao + i * strideA, lda, bd, bo + i * strideB, ldb,
                            be, cd, co + i * strideC, ldc);
            });
        } else {
            for (int i = 0; i < batch; i++)
                Sgemm.sgemm(transA, transB, m, n, k, al, ad, ao + i * strideA, lda, bd, bo + i * strideB, ldb,
                        be, cd, co + i * strideC, ldc);
        }
    }

    // ---------------------------------------------------------------- convolution

    @Override
    public void conv2dForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        CpuConvolution.forward(g, data(x), x.offset(), data(weight), weight.offset(),
                bias == null ? null : data(bias), bias == null ? 0 : bias.offset(), data(y), y.offset());
    }

    /**
     * Fused for grouped and dense convolutions: the batch norm and activation run in the GEMM's
     * epilogue with the kernels' own operations, so the result equals the three kernels in sequence
     * bit for bit without a second pass over y. Depthwise convolutions use the default.
     */
    @Override
    public void conv2dBatchNormForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor invStd,
                                       Tensor bnWeight, Tensor bnBias, UnaryOp act, Tensor y) {
        if (g.isDepthwise()) {
            Backend.super.conv2dBatchNormForward(g, x, weight, bias, mean, invStd, bnWeight, bnBias, act, y);
            return;
        }
        int c = g.outC();
        float[] mu = new float[c], scale = new float[c], shift = new float[c];
        float[] m = data(mean), is = data(invStd), bw = bnWeight == null ? null : data(bnWeight), bb = bnBias == null ? null : data(bnBias);
        for (int ch = 0; ch < c; ch++) {   // as CpuNormalization.forward computes them
            mu[ch] = m[mean.offset() + ch];
            scale[ch] = is[invStd.offset() + ch] * (bw == null ? 1f : bw[bnWeight.offset() + ch]);
            shift[ch] = bb == null ? 0f : bb[bnBias.offset() + ch];
        }
        float lo = act == null ? Float.NEGATIVE_INFINITY : 0f, hi = act == null ? Float.POSITIVE_INFINITY : clampHigh(act);
        CpuConvolution.forward(g, data(x), x.offset(), data(weight), weight.offset(),
                bias == null ? null : data(bias), bias == null ? 0 : bias.offset(), data(y), y.offset(),
                new Sgemm.Epilogue(mu, scale, shift, 0, lo, hi));
    }

    @Override
    public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) {
        CpuConvolution.backwardData(g, data(dy), dy.offset(), data(weight), weight.offset(), data(dx), dx.offset());
    }

    @Override
    public void conv2dBackwardWeight(ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) {
        CpuConvolution.backwardWeight(g, data(x), x.offset(), data(dy), dy.offset(), data(dWeight), dWeight.offset());
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormStats(int n, int c, int hw, Tensor x, Tensor mean, Tensor var) {
        CpuNormalization.stats(n, c, hw, data(x), x.offset(), data(mean), mean.offset(), data(var), var.offset());
    }

    @Override
    public void batchNormForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight, Tensor bias, Tensor y) {
        CpuNormalization.forward(n, c, hw, data(x), x.offset(), data(mean), mean.offset(), data(invStd), invStd.offset(),
                weight == null ? null : data(weight), weight == null ? 0 : weight.offset(),
                bias == null ? null : data(bias), bias == null ? 0 : bias.offset(), data(y), y.offset());
    }

    @Override
    public void batchNormBackward(int n, int c, int hw, Tensor x, Tensor dy, Tensor mean, Tensor invStd, Tensor weight,
                                  boolean batchStats, Tensor dx, Tensor dWeight, Tensor dBias) {
        CpuNormalization.backward(n, c, hw, data(x), x.offset(), data(dy), dy.offset(), data(mean), mean.offset(),
                data(invStd), invStd.offset(), weight == null ? null : data(weight), weight == null ? 0 : weight.offset(),
                batchStats, dx == null ? null : data(dx), dx == null ? 0 : dx.offset(),
                dWeight == null ? null : data(dWeight), dWeight == null ? 0 : dWeight.offset(),
                dBias == null ? null : data(dBias), dBias == null ? 0 : dBias.offset());
    }

    private static float clampHigh(UnaryOp act) {
        return switch (act) {
            case RELU -> Float.POSITIVE_INFINITY;
            case RELU6 -> 6f;
            default -> throw new GraftException("fused batch norm activation must be ReLU or ReLU6, got " + act);
        };
    }

    @Override
    public void batchNormActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                           Tensor bias, UnaryOp act, Tensor z) {
        CpuNormalization.forwardClamped(n, c, hw, data(x), x.offset(), data(mean), mean.offset(), data(invStd), invStd.offset(),
                weight == null ? null : data(weight), weight == null ? 0 : weight.offset(),
                bias == null ? null : data(bias), bias == null ? 0 : bias.offset(), null, 0, 0f, clampHigh(act), data(z), z.offset());
    }

    @Override
    public void batchNormAddActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                              Tensor bias, Tensor residual, UnaryOp act, Tensor z) {
        CpuNormalization.forwardClamped(n, c, hw, data(x), x.offset(), data(mean), mean.offset(), data(invStd), invStd.offset(),
                weight == null ? null : data(weight), weight == null ? 0 : weight.offset(),
                bias == null ? null : data(bias), bias == null ? 0 : bias.offset(), data(residual), residual.offset(),
                0f, clampHigh(act), data(z), z.offset());
    }

    @Override
    public void batchNormActivationBackward(int n, int c, int hw, Tensor x, Tensor z, Tensor dz, Tensor mean, Tensor invStd,
                                            Tensor weight, boolean batchStats, UnaryOp act, Tensor dx, Tensor dWeight, Tensor dBias) {
        CpuNormalization.backwardClamped(n, c, hw, data(x), x.offset(), data(z), z.offset(), data(dz), dz.offset(),
                data(mean), mean.offset(), data(invStd), invStd.offset(), weight == null ? null : data(weight),
                weight == null ? 0 : weight.offset(), batchStats, 0f, clampHigh(act),
                dx == null ? null : data(dx), dx == null ? 0 : dx.offset(),
                dWeight == null ? null : data(dWeight), dWeight == null ? 0 : dWeight.offset(),
                dBias == null ? null : data(dBias), dBias == null ? 0 : dBias.offset());
    }

    // ---------------------------------------------------------------- pooling

    @Override
    public void maxPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        CpuPooling.maxForward(g, data(x), x.offset(), data(y), y.offset());
    }

    @Override
    public void maxPool2dBackward(PoolGeometry g, Tensor x, Tensor dy, Tensor dx) {
        CpuPooling.maxBackward(g, data(x), x.offset(), data(dy), dy.offset(), data(dx), dx.offset());
    }

    @Override
    public void avgPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        CpuPooling.avgForward(g, data(x), x.offset(), data(y), y.offset());
    }

    @Override
    public void avgPool2dBackward(PoolGeometry g, Tensor dy, Tensor dx) {
        CpuPooling.avgBackward(g, data(dy), dy.offset(), data(dx), dx.offset());
    }

    @Override
    public void adaptiveAvgPool2dForward(int planes, int h, int w, int oh, int ow, Tensor x, Tensor y) {
        CpuPooling.adaptiveForward(planes, h, w, oh, ow, data(x), x.offset(), data(y), y.offset());
    }

    @Override
    public void adaptiveAvgPool2dBackward(int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx) {
        CpuPooling.adaptiveBackward(planes, h, w, oh, ow, data(dy), dy.offset(), data(dx), dx.offset());
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum, double dampening,
                        double weightDecay, boolean nesterov, boolean firstStep) {
        CpuOptimizers.sgd(data(param), param.offset(), data(grad), grad.offset(),
                momentumBuffer == null ? null : data(momentumBuffer), momentumBuffer == null ? 0 : momentumBuffer.offset(),
                param.numel(), lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1, double beta2,
                          double eps, double weightDecay, int step) {
        CpuOptimizers.adamw(data(param), param.offset(), data(grad), grad.offset(), data(expAvg), expAvg.offset(),
                data(expAvgSq), expAvgSq.offset(), param.numel(), lr, beta1, beta2, eps, weightDecay, step);
    }
}
