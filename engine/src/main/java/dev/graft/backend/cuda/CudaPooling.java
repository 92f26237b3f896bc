package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.backend.PoolGeometry;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * 2-D max, average and adaptive average pooling on the GPU (kernels in {@code pooling.cu}), with
 * the CPU backend's windows, divisors and tie-breaking.
 *
 * <p>Forward passes run one thread per output. Backward passes are gathers, one thread per input
 * element adding the gradients of the windows that cover it in row-major output order, so
 * overlapping windows need no atomics and the results are deterministic (and equal to the CPU
 * backend's). Max pooling's backward first stores each window's argmax (the first maximal element,
 * NaN winning) in a temporary int buffer shaped like dy.
 */
final class CudaPooling {
    private CudaPooling() {}

    /** The window geometry as the kernels' PoolWindowDims struct (14 ints). */
    private static KernelArgs dims(KernelArgs a, PoolGeometry g) {
        return a.ints(g.n() * g.c(), g.h(), g.w(), g.kh(), g.kw(), g.strideH(), g.strideW(), g.padH(), g.padW(),
                g.dilationH(), g.dilationW(), g.oh(), g.ow(), g.countIncludePad() ? 1 : 0);
    }

    private static long outputs(PoolGeometry g) {
        return (long) g.n() * g.c() * g.oh() * g.ow();
    }

    private static long inputs(PoolGeometry g) {
        return (long) g.n() * g.c() * g.h() * g.w();
    }

    static void maxForward(CudaBackend b, PoolGeometry g, Tensor x, Tensor y) {
        long total = outputs(g);
        if (total == 0) return;
        b.launch1d("maxpool_forward_f32", total, dims(KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)), g).i64(total));
    }

    static void maxBackward(CudaBackend b, PoolGeometry g, Tensor x, Tensor dy, Tensor dx) {
        long out = outputs(g), in = inputs(g);
        if (in == 0) return;
        if (out == 0) {
            b.gpu().memsetZero(b.address(dx), 4L * in);
            return;
        }
        Storage arg = b.allocateUninitialized((int) out);
        try {
            b.launch1d("maxpool_argmax_f32", out, dims(KernelArgs.of().ptr(b.address(x)).ptr(b.address(arg)), g).i64(out));
            b.launch1d("maxpool_backward_f32", in,
                    dims(KernelArgs.of().ptr(b.address(arg)).ptr(b.address(dy)).ptr(b.address(dx)), g).i64(in));
        } finally {
            b.release(arg);
        }
    }

    private static void checkAvg(PoolGeometry g) {
        if (g.dilationH() != 1 || g.dilationW() != 1)
            throw new GraftException("avg_pool2d does not support dilation (got " + g.dilationH() + "x" + g.dilationW() + ")");
    }

    static void avgForward(CudaBackend b, PoolGeometry g, Tensor x, Tensor y) {
        checkAvg(g);
        long total = outputs(g);
        if (total == 0) return;
        b.launch1d("avgpool_forward_f32", total, dims(KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)), g).i64(total));
    }

    static void avgBackward(CudaBackend b, PoolGeometry g, Tensor dy, Tensor dx) {
        checkAvg(g);
        long total = inputs(g);
        if (total == 0) return;
        b.launch1d("avgpool_backward_f32", total, dims(KernelArgs.of().ptr(b.address(dy)).ptr(b.address(dx)), g).i64(total));
    }

    static void adaptiveForward(CudaBackend b, int planes, int h, int w, int oh, int ow, Tensor x, Tensor y) {
        long total = (long) planes * oh * ow;
        if (total == 0) return;
        b.launch1d("adaptive_avgpool_forward_f32", total,
                KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)).ints(planes, h, w, oh, ow).i64(total));
    }

    static void adaptiveBackward(CudaBackend b, int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx) {
        long total = (long) planes * h * w;
        if (total == 0) return;
        if (oh <= 0 || ow <= 0) {
            b.gpu().memsetZero(b.address(dx), 4L * total);
            return;
        }
        b.launch1d("adaptive_avgpool_backward_f32", total,
                KernelArgs.of().ptr(b.address(dy)).ptr(b.address(dx)).ints(planes, h, w, oh, ow).i64(total));
    }
}
