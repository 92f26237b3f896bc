package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * Host side of the reduction kernels ({@code reductions.cu}): sum over any set of dimensions, and
 * softmax / log-softmax with their gradients, with the CPU backend's semantics (CpuReductions).
 *
 * <p>Every kernel accumulates in double in an order that depends only on the shapes, so results are
 * deterministic (no atomics) and close to the CPU's double sums. The launch shape is chosen here:
 * <ul>
 *   <li>sum: after merging dimensions, the kept and the reduced dimensions form two index spaces.
 *       Short reductions, and those whose innermost dimension is kept (neighbouring outputs read
 *       neighbouring elements), run one thread per output; long reductions over innermost elements
 *       run one block per output. Either splits long reductions into fixed-size chunks whose double
 *       partial sums a second kernel adds in order, so a full reduction of millions of elements
 *       still spreads over the GPU;</li>
 *   <li>softmax: one thread per column (o, j) of the (outer, n, inner) view, or one block per column
 *       when the columns are long and few (or contiguous rows).</li>
 * </ul>
 */
final class CudaReductions {
    private CudaReductions() {}

    /** Threads per block of the block-wide kernels ({@code RD_THREADS}). */
    private static final int THREADS = 256;
    /** Dimensions per index space of a sum ({@code RD_MAX_RANK}). */
    private static final int MAX_RANK = 8;
    /** Reduced elements per block-kernel chunk of a sum. */
    private static final int BLOCK_CHUNK = 8192;
    /** Reductions up to this length always run one thread per output. */
    private static final int SHORT_REDUCTION = 32;
    /** Outputs from which the thread kernel has enough threads without splitting reductions. */
    private static final int MANY_OUTPUTS = 65536;
    /** Reduced elements per thread-kernel chunk when it does split. */
    private static final int THREAD_CHUNK = 256;
    /** Largest grid of the block kernels (they loop over the rest). */
    private static final int MAX_GRID = 1 << 20;

    // ---------------------------------------------------------------- sum

    /** out[out.offset + i·outStrides] = Σ x[i] over the reduced (out-stride 0) dimensions; out zeroed first. */
    static void sum(CudaBackend b, int[] shape, Tensor x, int[] outStrides, Tensor out) {
        int outN = out.numel();
        if (Shapes.numel(shape) == 0) {
            if (outN > 0) b.gpu().memsetZero(b.address(out), 4L * outN);
            return;
        }
        int[][] co = Shapes.coalesce(shape, Shapes.contiguousStrides(shape), outStrides);
        int[] sh = co[0], xs = co[1], os = co[2];
        int rank = sh.length, kept = 0;
        for (int s : os) if (s != 0) kept++;
        int[] kShape = new int[kept], kx = new int[kept], ko = new int[kept];
        int[] rShape = new int[rank - kept], rx = new int[rank - kept];
        for (int d = 0, k = 0, r = 0; d < rank; d++) {
            if (os[d] != 0) {
                kShape[k] = sh[d];
                kx[k] = xs[d];
                ko[k++] = os[d];
            } else {
                rShape[r] = sh[d];
                rx[r++] = xs[d];
            }
        }
        int[][] k = Shapes.coalesce(kShape, kx, ko), r = Shapes.coalesce(rShape, rx);
        if (k[0].length > MAX_RANK || r[0].length > MAX_RANK)
            throw new GraftException("sum over shape " + Arrays.toString(shape) + " with out strides " + Arrays.toString(outStrides)
                    + ": more than " + MAX_RANK + " kept or reduced dimensions after merging");
        int outputs = Shapes.numel(k[0]), reduced = Shapes.numel(r[0]);
        if (outputs != outN) b.gpu().memsetZero(b.address(out), 4L * outN);
        int[] dims = sumDims(k, r);
        boolean innerKept = rank > 0 && os[rank - 1] != 0;
        long xa = b.address(x), oa = b.address(out);
        if (innerKept || reduced <= SHORT_REDUCTION) {
            int chunks = outputs >= MANY_OUTPUTS || reduced <= THREAD_CHUNK ? 1
                    : Math.min(ceilDiv(reduced, THREAD_CHUNK), ceilDiv(MANY_OUTPUTS, outputs));
            int chunkLen = ceilDiv(reduced, chunks);
            chunks = ceilDiv(reduced, chunkLen);
            Storage partial = chunks == 1 ? null : b.allocateUninitialized(2 * outputs * chunks);  // doubles
            long pa = partial == null ? 0 : b.address(partial);
            b.launch1d("sum_thread_f32", (long) outputs * chunks, KernelArgs.of().ptr(xa).ptr(oa).ptr(pa).i32(outputs).i32(reduced)
                    .i32(chunks).i32(chunkLen).ints(dims));
            if (partial != null) finish(b, partial, oa, outputs, chunks, 1, outputs, dims);
        } else {
            int chunks = ceilDiv(reduced, BLOCK_CHUNK);
            int chunkLen = ceilDiv(reduced, chunks);
            chunks = ceilDiv(reduced, chunkLen);
            Storage partial = chunks == 1 ? null : b.allocateUninitialized(2 * outputs * chunks);
            long pa = partial == null ? 0 : b.address(partial);
            int grid = (int) Math.min((long) outputs * chunks, MAX_GRID);
            b.launch("sum_block_f32", grid, 1, 1, THREADS, 1, 1, 0, KernelArgs.of().ptr(xa).ptr(oa).ptr(pa).i32(outputs)
                    .i32(reduced).i32(chunks).i32(chunkLen).ints(dims));
            if (partial != null) finish(b, partial, oa, outputs, chunks, chunks, 1, dims);
        }
    }

    /** Adds the chunks' double partial sums (partial[o·oStride + c·cStride]) in chunk order into out. */
    private static void finish(CudaBackend b, Storage partial, long out, int outputs, int chunks, int oStride, int cStride, int[] dims) {
        b.launch1d("sum_finish_f32", outputs, KernelArgs.of().ptr(b.address(partial)).ptr(out).i32(outputs).i32(chunks)
                .i32(oStride).i32(cStride).ints(dims));
        b.release(partial);  // stream-ordered: reused only by work queued after the finish
    }

    /** The {@code SumDims} struct: krank, kshape[8], kx[8], ko[8], rrank, rshape[8], rx[8]. */
    private static int[] sumDims(int[][] kept, int[][] reduced) {
        int[] v = new int[2 + 5 * MAX_RANK];
        int kr = kept[0].length, rr = reduced[0].length;
        v[0] = kr;
        for (int d = 0; d < kr; d++) {
            v[1 + d] = kept[0][d];
            v[1 + MAX_RANK + d] = kept[1][d];
            v[1 + 2 * MAX_RANK + d] = kept[2][d];
        }
        int base = 1 + 3 * MAX_RANK;
        v[base] = rr;
        for (int d = 0; d < rr; d++) {
            v[base + 1 + d] = reduced[0][d];
            v[base + 1 + MAX_RANK + d] = reduced[1][d];
        }
        return v;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    // ---------------------------------------------------------------- softmax

    static void softmax(CudaBackend b, Tensor x, Tensor y, int outer, int n, int inner, boolean log) {
        launchColumns(b, "softmax", outer, n, inner,
                KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)).i32(outer).i32(n).i32(inner).i32(log ? 1 : 0));
    }

    static void softmaxBackward(CudaBackend b, Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log) {
        launchColumns(b, "softmax_backward", outer, n, inner, KernelArgs.of().ptr(b.address(y)).ptr(b.address(dy))
                .ptr(b.address(dx)).i32(outer).i32(n).i32(inner).i32(log ? 1 : 0));
    }

    /**
     * Runs {@code <kernel>_block_f32} (a block per column) for long columns that are contiguous rows
     * or too few to fill the GPU one per thread, else {@code <kernel>_thread_f32}.
     */
    private static void launchColumns(CudaBackend b, String kernel, int outer, int n, int inner, KernelArgs args) {
        if (outer == 0 || n == 0 || inner == 0) return;
        long columns = (long) outer * inner;
        if (n >= 128 && (inner == 1 || columns < 8192))
            b.launch(kernel + "_block_f32", (int) Math.min(columns, MAX_GRID), 1, 1, THREADS, 1, 1, 0, args);
        else
            b.launch1d(kernel + "_thread_f32", columns, args);
    }
}
