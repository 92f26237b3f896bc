package dev.graft.backend;

import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * Memory plus kernels for one device and element type. The ops in {@code dev.graft.ops} compute
 * shapes, allocate outputs and record gradients; a backend only runs kernels. A CUDA backend is
 * "the same kernels, other memory".
 *
 * <p>Contract for every kernel: tensor arguments belong to this backend; unless a parameter says
 * otherwise they are contiguous (row-major, dense from {@link Tensor#offset()}), and outputs are
 * preallocated by the caller with the documented shape. Kernels overwrite their outputs (they do not
 * accumulate) unless the documentation says so.
 */
public interface Backend {
    Device device();

    DType dtype();

    /**
     * Waits until every kernel queued so far has finished. Backends that run kernels synchronously
     * (the CPU) return at once; the CUDA backend queues them on a stream, so timing code calls this
     * before reading the clock. Copies to the host wait by themselves.
     */
    default void synchronize() {}

    // ---------------------------------------------------------------- memory

    /** A zero-filled storage of {@code size} elements. */
    Storage allocate(int size);

    /**
     * A storage of {@code size} elements whose contents are unspecified, for outputs a kernel
     * overwrites entirely (every kernel's output, by the contract above). Backends may recycle memory
     * here; the default is {@link #allocate}.
     */
    default Storage allocateUninitialized(int size) {
        return allocate(size);
    }

    /**
     * Hands {@code storage}'s memory back for reuse now rather than when it is garbage-collected. The
     * caller guarantees that nothing reads or writes it again (autograd does this for gradients that
     * only it has seen). The default does nothing.
     */
    default void release(Storage storage) {}

    Storage fromFloats(float[] values);

    Storage fromDoubles(double[] values);

    void readFloats(Storage src, int srcOffset, float[] dst, int dstOffset, int count);

    void readDoubles(Storage src, int srcOffset, double[] dst, int dstOffset, int count);

    /**
     * Strided copy: for every index i of {@code shape},
     * {@code dst[dstOffset + i·dstStrides] = src[srcOffset + i·srcStrides]}. Strides may be 0
     * (broadcast reads) and the regions may be any views.
     */
    void copy(int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides);

    /** Sets every element of contiguous {@code dst} to {@code value}. */
    void fill(Tensor dst, double value);

    // ---------------------------------------------------------------- element-wise

    /** y = f(x), same shapes. */
    void unary(UnaryOp op, Tensor x, Tensor y);

    /** dx = dy · f'(x), same shapes. */
    void unaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx);

    /**
     * out = a ⊙ b over {@code shape} (out contiguous with that shape); {@code aStrides} and
     * {@code bStrides} address a and b from their offsets, with 0 on broadcast dimensions.
     */
    void binary(BinaryOp op, int[] shape, Tensor a, int[] aStrides, Tensor b, int[] bStrides, Tensor out);

    /** y = x ⊙ s element-wise, same shapes. */
    void scalar(ScalarOp op, Tensor x, double s, Tensor y);

    // ---------------------------------------------------------------- reductions

    /**
     * Sum reduction: for every index i of {@code shape} (x contiguous with that shape),
     * {@code out[out.offset + i·outStrides] += x[i]}; the reduced dimensions have out-stride 0.
     * Overwrites out: out is zeroed first.
     */
    void sum(int[] shape, Tensor x, int[] outStrides, Tensor out);

    /**
     * Softmax (or log-softmax) along the middle axis of x viewed as (outer, n, inner); y has x's shape.
     * Numerically stable (subtracts the maximum).
     */
    void softmax(Tensor x, Tensor y, int outer, int n, int inner, boolean log);

    /**
     * Gradient of {@link #softmax}: given its output y and dy, writes dx. For softmax
     * dx = y·(dy − Σ dy·y); for log-softmax dx = dy − exp(y)·Σ dy.
     */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log);

    // ---------------------------------------------------------------- linear algebra

    /**
     * Batched row-major GEMM: for each b < batch,
     * {@code C_b = alpha · op(A_b) · op(B_b) + beta · C_b}, where op(A_b) is m×k (A_b stored k×m when
     * transA), op(B_b) is k×n (B_b stored n×k when transB), C_b is m×n. Matrices are dense; the b-th
     * starts {@code b * strideX} elements after the tensor's offset (stride 0 broadcasts one matrix).
     * With beta = 0, C is not read (NaN in C does not propagate).
     */
    void gemm(boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
              Tensor a, int strideA, Tensor b, int strideB, double beta, Tensor c, int strideC);

    // ---------------------------------------------------------------- convolution

    /** y (n, outC, oh, ow) = conv(x (n, inC, h, w), w (outC, inC/groups, kh, kw)) + bias (outC), bias may be null. */
    void conv2dForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y);

    /**
     * y = act(batchNorm(conv2d(x, weight) + bias)) with fixed statistics (inference, or frozen batch
     * norm): the batch-norm and activation arguments as in {@link #batchNormActivationForward}, act
     * ReLU, ReLU6 or null. Backends may fuse it into the convolution; the default runs the kernels in
     * sequence, the batch norm in place on y.
     */
    default void conv2dBatchNormForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor invStd,
                                        Tensor bnWeight, Tensor bnBias, UnaryOp act, Tensor y) {
        conv2dForward(g, x, weight, bias, y);
        int hw = g.oh() * g.ow();
        if (act == null) batchNormForward(g.n(), g.outC(), hw, y, mean, invStd, bnWeight, bnBias, y);
        else batchNormActivationForward(g.n(), g.outC(), hw, y, mean, invStd, bnWeight, bnBias, act, y);
    }

    /** dx (n, inC, h, w) from dy (n, outC, oh, ow) and the weight. */
    void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor weight, Tensor dx);

    /** dWeight (outC, inC/groups, kh, kw) from x and dy. */
    void conv2dBackwardWeight(ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight);

    // ---------------------------------------------------------------- batch norm (x viewed as (n, c, hw))

    /** Per-channel mean and biased variance of x (n, c, hw) into mean (c) and var (c). */
    void batchNormStats(int n, int c, int hw, Tensor x, Tensor mean, Tensor var);

    /**
     * The per-channel work between {@link #batchNormStats} and the normalisation in training mode, on
     * vectors of length c (contiguous): {@code invStd = 1 / sqrt(var + eps)}, and, when the running
     * statistics are not null, {@code runningMean = (1 − momentum)·runningMean + momentum·mean} and
     * {@code runningVar = (1 − momentum)·runningVar + momentum·var·count/(count − 1)} (PyTorch's unbiased
     * running variance), each scalar rounded to float first and each step rounded (no fused multiply-add).
     * The default runs the element-wise kernels in sequence; backends may do it in one kernel (the GPU:
     * one launch instead of twelve per batch-norm layer).
     */
    default void batchNormUpdateStats(int c, Tensor mean, Tensor var, double eps, double momentum, long count,
                                      Tensor runningMean, Tensor runningVar, Tensor invStd) {
        batchNormInverseStd(c, var, eps, invStd);
        if (runningMean == null || runningVar == null) return;
        blend(runningMean, mean, momentum);
        Tensor unbiased = Tensor.zeros(this, c);
        scalar(ScalarOp.MUL, var, (double) count / (count - 1), unbiased);
        blend(runningVar, unbiased, momentum);
    }

    /**
     * {@code invStd = 1 / sqrt(var + eps)} on vectors of length c (contiguous), eps rounded to float,
     * each step rounded: batch norm's scale from a variance (the running one in inference). The
     * default runs three element-wise kernels.
     */
    default void batchNormInverseStd(int c, Tensor var, double eps, Tensor invStd) {
        Tensor t = Tensor.zeros(this, c);
        scalar(ScalarOp.ADD, var, eps, t);
        Tensor s = Tensor.zeros(this, c);
        unary(UnaryOp.SQRT, t, s);
        scalar(ScalarOp.RDIV, s, 1.0, invStd);
    }

    /** running ← (1 − momentum)·running + momentum·value, in place (running contiguous). */
    private void blend(Tensor running, Tensor value, double momentum) {
        int[] shape = running.shape();
        Tensor a = Tensor.zeros(this, shape);
        scalar(ScalarOp.MUL, running, 1 - momentum, a);
        Tensor b = Tensor.zeros(this, shape);
        scalar(ScalarOp.MUL, value, momentum, b);
        int[] st = a.strides();
        binary(BinaryOp.ADD, shape, a, st, b, st, running);
    }

    /** y = (x − mean[c]) · invStd[c] · weight[c] + bias[c]; weight and bias may be null (1 and 0). */
    void batchNormForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight, Tensor bias, Tensor y);

    /**
     * Backward of {@link #batchNormForward}. With {@code batchStats} the mean and invStd were computed
     * from x itself (training mode) and their gradient flows into dx; otherwise they are constants
     * (running statistics). dx, dWeight, dBias may each be null when not wanted; weight may be null (1).
     */
    void batchNormBackward(int n, int c, int hw, Tensor x, Tensor dy, Tensor mean, Tensor invStd, Tensor weight,
                           boolean batchStats, Tensor dx, Tensor dWeight, Tensor dBias);

    /**
     * z = act(batchNormForward(…)) in one pass; {@code act} is {@link UnaryOp#RELU} or
     * {@link UnaryOp#RELU6}. The default runs the two kernels.
     */
    default void batchNormActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                            Tensor bias, UnaryOp act, Tensor z) {
        batchNormForward(n, c, hw, x, mean, invStd, weight, bias, z);
        unary(act, z, z);
    }

    /**
     * z = act(batchNormForward(…) + residual) in one pass (residual shaped like x), act ReLU or ReLU6:
     * a residual block's last batch norm, shortcut addition and activation. The default runs the
     * kernels in sequence, in place on z.
     */
    default void batchNormAddActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                               Tensor bias, Tensor residual, UnaryOp act, Tensor z) {
        batchNormForward(n, c, hw, x, mean, invStd, weight, bias, z);
        int[] strides = z.strides();
        binary(BinaryOp.ADD, z.shape(), z, strides, residual, strides, z);
        unary(act, z, z);
    }

    /**
     * Backward of {@link #batchNormActivationForward} from its output z: the activation's gradient
     * (dz where 0 &lt; z &lt; 6 for ReLU6, z &gt; 0 for ReLU, NaN passing, which equals the mask of the
     * pre-activation) feeds {@link #batchNormBackward}. The default materialises it.
     */
    default void batchNormActivationBackward(int n, int c, int hw, Tensor x, Tensor z, Tensor dz, Tensor mean, Tensor invStd,
                                             Tensor weight, boolean batchStats, UnaryOp act, Tensor dx, Tensor dWeight, Tensor dBias) {
        Tensor dy = Tensor.zeros(this, z.shape());
        unaryBackward(act, z, dz, dy);
        batchNormBackward(n, c, hw, x, dy, mean, invStd, weight, batchStats, dx, dWeight, dBias);
    }

    // ---------------------------------------------------------------- pooling

    /** Max pooling; padded positions count as −∞. */
    void maxPool2dForward(PoolGeometry g, Tensor x, Tensor y);

    /** dx from dy: each window's gradient goes to its first maximal element (as PyTorch on CPU). */
    void maxPool2dBackward(PoolGeometry g, Tensor x, Tensor dy, Tensor dx);

    /** Average pooling; the divisor counts padding when {@code g.countIncludePad()} (PyTorch's default). */
    void avgPool2dForward(PoolGeometry g, Tensor x, Tensor y);

    void avgPool2dBackward(PoolGeometry g, Tensor dy, Tensor dx);

    /**
     * Adaptive average pooling of x (n·c planes of h×w) to oh×ow: output cell (i, j) averages rows
     * [floor(i·h/oh), ceil((i+1)·h/oh)) and the same for columns.
     */
    void adaptiveAvgPool2dForward(int planes, int h, int w, int oh, int ow, Tensor x, Tensor y);

    void adaptiveAvgPool2dBackward(int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx);

    // ---------------------------------------------------------------- optimizer updates (in place, contiguous)

    /**
     * PyTorch's SGD step for one parameter: g = grad + weightDecay·p; if momentum ≠ 0:
     * buf = g on the first step, else buf = momentum·buf + (1 − dampening)·g; g = nesterov ? g + momentum·buf : buf;
     * p −= lr·g. {@code buf} may be null when momentum is 0.
     */
    void sgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum, double dampening,
                 double weightDecay, boolean nesterov, boolean firstStep);

    /**
     * PyTorch's AdamW step (amsgrad off) for one parameter at step t ≥ 1: p −= lr·wd·p;
     * m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps).
     */
    void adamwStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1, double beta2,
                   double eps, double weightDecay, int step);
}
