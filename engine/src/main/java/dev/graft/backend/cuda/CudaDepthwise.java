package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.backend.ConvGeometry;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * Depthwise convolution on the GPU (kernels in {@code depthwise.cu}): groups = inC = outC, weight
 * (c, 1, kh, kw), any kernel size, stride, padding and dilation. {@link CudaConvolution} sends
 * {@link ConvGeometry#isDepthwise()} convolutions here.
 *
 * <p>Forward and data gradient run one thread per element written (the data gradient gathers the
 * taps that reach its input element). The weight gradient is a deterministic reduction: blocks of
 * {@link #THREADS} threads per (channel, group of {@link #TAPS} taps, chunk of the n·oh·ow output
 * positions), and with several chunks a second kernel adds the chunks' partial sums in order.
 */
final class CudaDepthwise {
    private CudaDepthwise() {}

    /** Threads per block of the weight-gradient kernel (DW_THREADS in depthwise.cu). */
    static final int THREADS = 256;
    /** Taps per block of the weight-gradient kernel (DW_TAPS in depthwise.cu). */
    static final int TAPS = 8;

    private static void check(String op, ConvGeometry g) {
        if (!g.isDepthwise())
            throw new GraftException("depthwise " + op + ": convolution " + g.inC() + " -> " + g.outC() + " channels in "
                    + g.groups() + " groups is not depthwise");
    }

    /** The geometry as the kernels' DepthwiseConvDims struct (14 ints). */
    private static KernelArgs dims(KernelArgs a, ConvGeometry g) {
        return a.ints(g.n(), g.inC(), g.h(), g.w(), g.kh(), g.kw(), g.strideH(), g.strideW(), g.padH(), g.padW(),
                g.dilationH(), g.dilationW(), g.oh(), g.ow());
    }

    /** y = depthwise conv of x with weight, plus bias (may be null). */
    static void forward(CudaBackend b, ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        check("forward", g);
        long total = (long) g.n() * g.outC() * g.oh() * g.ow();
        if (total == 0) return;
        b.launch1d("depthwise_forward_f32", total, dims(KernelArgs.of()
                .ptr(b.address(x)).ptr(b.address(weight)).ptr(b.addressOrNull(bias)).ptr(b.address(y)), g).i64(total));
    }

    /** dx (overwritten) from dy and the weight. */
    static void backwardData(CudaBackend b, ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) {
        check("backward data", g);
        long total = (long) g.n() * g.inC() * g.h() * g.w();
        if (total == 0) return;
        b.launch1d("depthwise_backward_data_f32", total, dims(KernelArgs.of()
                .ptr(b.address(dy)).ptr(b.address(weight)).ptr(b.address(dx)), g).i64(total));
    }

    /** dWeight (overwritten) from x and dy. */
    static void backwardWeight(CudaBackend b, ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) {
        check("backward weight", g);
        int c = g.inC(), kk = g.kh() * g.kw();
        long weights = (long) c * kk;
        if (weights == 0) return;
        long positions = (long) g.n() * g.oh() * g.ow();
        if (positions == 0) {
            b.gpu().memsetZero(b.address(dWeight), 4L * weights);
            return;
        }
        int groups = Math.ceilDiv(kk, TAPS);
        int chunks = CudaNormalization.chunks(b, c * groups, positions);
        if (chunks == 1) {
            b.launch("depthwise_backward_weight_f32", c, groups, 1, THREADS, 1, 1, 0,
                    dims(KernelArgs.of().ptr(b.address(x)).ptr(b.address(dy)).ptr(b.address(dWeight)), g));
            return;
        }
        Storage partial = b.allocateUninitialized(Math.toIntExact(weights * chunks));
        try {
            b.launch("depthwise_backward_weight_f32", c, groups, chunks, THREADS, 1, 1, 0,
                    dims(KernelArgs.of().ptr(b.address(x)).ptr(b.address(dy)).ptr(b.address(partial)), g));
            b.launch1d("depthwise_weight_finish_f32", weights,
                    KernelArgs.of().ptr(b.address(partial)).ptr(b.address(dWeight)).i64(weights).i32(chunks));
        } finally {
            b.release(partial);
        }
    }
}
