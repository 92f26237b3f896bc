package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * Batch norm on the GPU (kernels in {@code normalization.cu}), x viewed as (n, c, hw) as in
 * {@link dev.graft.backend.Backend}.
 *
 * <p>Per-channel sums (mean and variance, the backward's Σg and Σg·(x − mean)) run as one block per
 * (channel, chunk of the channel's n·hw elements) accumulating in double; the chunks' partial sums
 * go to a temporary buffer and are added in chunk order, so results are deterministic. The number
 * of chunks grows until the grid fills the GPU, never below {@link #MIN_CHUNK} elements each.
 * Statistics take two passes (the mean, then Σ(x − mean)² around the double mean), so they stay
 * accurate when |mean| is far above the standard deviation. The forward pass, with its optional residual and ReLU/ReLU6
 * clamp, and the backward's element-wise part round every step as the CPU backend does; the
 * activation's gradient mask is applied on the fly from z, never stored.
 */
final class CudaNormalization {
    private CudaNormalization() {}

    /** Threads per block of the reduction kernels (BN_THREADS in normalization.cu). */
    static final int THREADS = 256;
    /** Fewest elements per chunk of a channel: below this, another block costs more than it saves. */
    static final int MIN_CHUNK = 1024;
    /** Most chunks per channel. */
    static final int MAX_CHUNKS = 64;

    /**
     * How many blocks share a reduction of {@code work} elements, when {@code others} independent
     * reductions run beside it: enough for about four blocks per multiprocessor in all.
     */
    static int chunks(CudaBackend b, int others, long work) {
        long wanted = Math.ceilDiv(4L * b.gpu().multiprocessors(), Math.max(1, others));
        long most = Math.max(1, Math.min(MAX_CHUNKS, work / MIN_CHUNK));
        return (int) Math.max(1, Math.min(wanted, most));
    }

    /** The clamp's lower bound for {@code act} (null: none). */
    private static float low(UnaryOp act) {
        return act == null ? Float.NEGATIVE_INFINITY : 0f;
    }

    /** The clamp's upper bound for {@code act} (null: none); only ReLU and ReLU6 are fused. */
    private static float high(UnaryOp act) {
        if (act == null) return Float.POSITIVE_INFINITY;
        return switch (act) {
            case RELU -> Float.POSITIVE_INFINITY;
            case RELU6 -> 6f;
            default -> throw new GraftException("fused batch norm activation must be ReLU or ReLU6, got " + act);
        };
    }

    /**
     * y = act((x − mean)·invStd·weight + bias + residual) in one pass; weight, bias, residual and act
     * may be null (1, 0, none, identity). y may be x (in place).
     */
    static void forward(CudaBackend b, int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                        Tensor bias, Tensor residual, UnaryOp act, Tensor y) {
        float lo = low(act), hi = high(act);
        long total = (long) n * c * hw;
        if (total == 0) return;
        b.launch1d("bn_forward_f32", total, KernelArgs.of()
                .ptr(b.address(x)).ptr(b.address(mean)).ptr(b.address(invStd)).ptr(b.addressOrNull(weight))
                .ptr(b.addressOrNull(bias)).ptr(b.addressOrNull(residual)).ptr(b.address(y))
                .i64(total).i32(c).i32(hw).f32(lo).f32(hi));
    }

    /** Per-channel mean and biased variance of x (two passes; NaN for a channel with no elements). */
    static void stats(CudaBackend b, int n, int c, int hw, Tensor x, Tensor mean, Tensor var) {
        if (c == 0) return;
        long count = (long) n * hw;
        int chunks = chunks(b, c, count);
        int parts = c * chunks;
        Storage sums = b.allocateUninitialized(2 * parts), squares = b.allocateUninitialized(2 * parts);
        try {
            long xa = count == 0 ? 0 : b.address(x);
            b.launch("bn_stats_partial_f32", c, chunks, 1, THREADS, 1, 1, 0, KernelArgs.of()
                    .ptr(xa).ptr(0).ptr(b.address(sums)).i32(n).i32(c).i32(hw).i32(chunks));
            b.launch("bn_stats_partial_f32", c, chunks, 1, THREADS, 1, 1, 0, KernelArgs.of()
                    .ptr(xa).ptr(b.address(sums)).ptr(b.address(squares)).i32(n).i32(c).i32(hw).i32(chunks));
            b.launch1d("bn_stats_finish_f32", c, KernelArgs.of()
                    .ptr(b.address(sums)).ptr(b.address(squares)).ptr(b.address(mean)).ptr(b.address(var))
                    .i32(c).i32(chunks).i64(count));
        } finally {
            b.release(sums);
            b.release(squares);
        }
    }

    /**
     * {@link dev.graft.backend.Backend#batchNormUpdateStats} in one launch (running statistics both null or
     * both set); with them null, {@link dev.graft.backend.Backend#batchNormInverseStd} (mean is not read).
     */
    static void updateStats(CudaBackend b, int c, Tensor mean, Tensor var, double eps, double momentum, long count,
                            Tensor runningMean, Tensor runningVar, Tensor invStd) {
        if (c == 0) return;
        boolean running = runningMean != null && runningVar != null;
        b.launch1d("bn_update_stats_f32", c, KernelArgs.of().ptr(running ? b.address(mean) : 0).ptr(b.address(var)).ptr(b.address(invStd))
                .ptr(running ? b.address(runningMean) : 0).ptr(running ? b.address(runningVar) : 0).i32(c)
                .f32((float) eps).f32((float) (1 - momentum)).f32((float) momentum).f32((float) ((double) count / (count - 1))));
    }

    /**
     * Batch norm backward. With act != null, dy is the gradient of z = act(bn(x)) and z is the
     * activation's output: dy counts where z lies strictly inside the clamp (0 &lt; z for ReLU,
     * 0 &lt; z &lt; 6 for ReLU6, NaN passing). With batchStats, mean and invStd came from x (training
     * mode); otherwise they are constants. weight may be null (1); dx, dWeight, dBias may each be null.
     */
    static void backward(CudaBackend b, int n, int c, int hw, Tensor x, Tensor z, Tensor dy, Tensor mean, Tensor invStd,
                         Tensor weight, boolean batchStats, UnaryOp act, Tensor dx, Tensor dWeight, Tensor dBias) {
        if (act != null && z == null) throw new GraftException("batch norm backward through " + act + " needs the activation's output z");
        float lo = low(act), hi = high(act);
        if (c == 0 || (dx == null && dWeight == null && dBias == null)) return;
        long count = (long) n * hw;
        boolean sums = dWeight != null || dBias != null || (dx != null && batchStats);
        int chunks = chunks(b, c, count);
        long xa = count == 0 ? 0 : b.address(x), za = count == 0 || act == null ? 0 : b.address(z);
        long dya = count == 0 ? 0 : b.address(dy), dxa = count == 0 ? 0 : b.addressOrNull(dx);
        Storage partial = sums ? b.allocateUninitialized(4 * c * chunks) : null;
        try {
            if (sums) {
                b.launch("bn_backward_partial_f32", c, chunks, 1, THREADS, 1, 1, 0, KernelArgs.of()
                        .ptr(xa).ptr(za).ptr(dya).ptr(b.address(mean)).ptr(b.address(partial))
                        .i32(n).i32(c).i32(hw).i32(chunks).f32(lo).f32(hi));
            }
            int dxChunks = dxa == 0 ? 1 : chunks;
            b.launch("bn_backward_apply_f32", c, dxChunks, 1, THREADS, 1, 1, 0, KernelArgs.of()
                    .ptr(xa).ptr(za).ptr(dya).ptr(b.address(mean)).ptr(b.address(invStd)).ptr(b.addressOrNull(weight))
                    .ptr(sums ? b.address(partial) : 0).ptr(dxa).ptr(b.addressOrNull(dWeight)).ptr(b.addressOrNull(dBias))
                    .i32(n).i32(c).i32(hw).i32(chunks).i32(batchStats ? 1 : 0).f32(lo).f32(hi));
        } finally {
            if (partial != null) b.release(partial);
        }
    }
}
