package dev.graft.backend.cuda;

import dev.graft.backend.ConvGeometry;
import dev.graft.backend.cuda.CudaGemm.Kernel;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * 2-D convolutions on the GPU (forward, data gradient, weight gradient). Depthwise convolutions go
 * to {@link CudaDepthwise}; the others to cuDNN where it loaded ({@link CuDnn}), else to Graft's
 * implicit-GEMM kernels of {@code convolution.cu}, which gather the im2col matrix from the image as
 * they multiply (no column buffer):
 * <ul>
 *   <li>forward: y_g = W_g · col(x) per group, bias added in the epilogue;</li>
 *   <li>data gradient: dx_g = W_gᵀ · dy_g gathered the col2im way (each dx element sums the
 *       (channel, tap) pairs that touch it: no atomics);</li>
 *   <li>weight gradient: dW_g = dy_g · col(x)ᵀ, the batch summed inside the GEMM's k, split-K
 *       partials added in order by {@code gemm_splitk_reduce_f32}: deterministic.</li>
 * </ul>
 *
 * <p>Precision follows PyTorch ({@code torch.backends.cudnn.allow_tf32 = True}): TF32 tensor cores by
 * default, exact FP32 with {@code -Dgraft.cuda.tf32.conv=false}; the same switch sets cuDNN's math
 * type.
 */
final class CudaConvolution {
    private CudaConvolution() {}

    /** System property: TF32 tensor cores for convolutions (default true, as PyTorch). */
    static final String TF32_PROPERTY = "graft.cuda.tf32.conv";

    static boolean tf32Conv() {
        return Boolean.parseBoolean(System.getProperty(TF32_PROPERTY, "true"));
    }

    /** The three passes: their kernel name prefixes. */
    enum Pass {
        FORWARD("conv_fwd_"), BACKWARD_DATA("conv_bwd_data_"), BACKWARD_WEIGHT("conv_bwd_weight_");

        final String prefix;

        Pass(String prefix) {
            this.prefix = prefix;
        }
    }

    /**
     * The implicit GEMM of {@code pass} for one group: {m, n, k}, as convolution.cu sets it up
     * (forward cout × n·P × cin·kh·kw, data gradient cin × n·h·w × cout·kh·kw, weight gradient
     * cout × cin·kh·kw × n·P, where P = oh·ow).
     */
    static long[] gemmShape(Pass pass, ConvGeometry g) {
        long taps = (long) g.kh() * g.kw(), p = (long) g.oh() * g.ow();
        return switch (pass) {
            case FORWARD -> new long[] {g.outPerGroup(), g.n() * p, g.inPerGroup() * taps};
            case BACKWARD_DATA -> new long[] {g.inPerGroup(), (long) g.n() * g.h() * g.w(), g.outPerGroup() * taps};
            case BACKWARD_WEIGHT -> new long[] {g.outPerGroup(), g.inPerGroup() * taps, g.n() * p};
        };
    }

    /** Graft's kernel for {@code pass} at this size. */
    static Kernel kernel(CudaBackend b, Pass pass, ConvGeometry g, boolean tf32) {
        long[] s = gemmShape(pass, g);
        return Kernel.choose(tf32, s[0], s[1], g.groups(), b.gpu().multiprocessors());
    }

    // ---------------------------------------------------------------- dispatch

    static void forward(CudaBackend b, ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        if (g.isDepthwise()) {
            CudaDepthwise.forward(b, g, x, weight, bias, y);
            return;
        }
        if (g.n() == 0) return;
        boolean tf32 = tf32Conv();
        CuDnn dnn = b.libraries().cudnn();
        if (dnn != null) dnn.forward(b, g, tf32, x, weight, bias, y);
        else forward(b, g, kernel(b, Pass.FORWARD, g, tf32), x, weight, bias, y);
    }

    static void backwardData(CudaBackend b, ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) {
        if (g.isDepthwise()) {
            CudaDepthwise.backwardData(b, g, dy, weight, dx);
            return;
        }
        if (g.n() == 0) return;
        boolean tf32 = tf32Conv();
        CuDnn dnn = b.libraries().cudnn();
        if (dnn != null) dnn.backwardData(b, g, tf32, dy, weight, dx);
        else backwardData(b, g, kernel(b, Pass.BACKWARD_DATA, g, tf32), dy, weight, dx);
    }

    static void backwardWeight(CudaBackend b, ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) {
        if (g.isDepthwise()) {
            CudaDepthwise.backwardWeight(b, g, x, dy, dWeight);
            return;
        }
        boolean tf32 = tf32Conv();
        CuDnn dnn = b.libraries().cudnn();
        if (g.n() == 0) b.gpu().memsetZero(b.address(dWeight), 4L * dWeight.numel());   // an empty batch: dW = 0
        else if (dnn != null) dnn.backwardWeight(b, g, tf32, x, dy, dWeight);
        else backwardWeight(b, g, kernel(b, Pass.BACKWARD_WEIGHT, g, tf32), x, dy, dWeight);
    }

    // ---------------------------------------------------------------- Graft's kernels (tests call these with each kernel)

    static void forward(CudaBackend b, ConvGeometry g, Kernel kernel, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        long[] s = gemmShape(Pass.FORWARD, g);
        CudaGemm.launch(b, kernel, name(Pass.FORWARD, kernel), kernel.blocks(s[0], s[1]), groupsInGrid(g, 1),
                KernelArgs.of().ptr(b.address(x)).ptr(b.address(weight)).ptr(b.addressOrNull(bias)).ptr(b.address(y))
                        .ints(dims(g)));
    }

    static void backwardData(CudaBackend b, ConvGeometry g, Kernel kernel, Tensor dy, Tensor weight, Tensor dx) {
        long[] s = gemmShape(Pass.BACKWARD_DATA, g);
        CudaGemm.launch(b, kernel, name(Pass.BACKWARD_DATA, kernel), kernel.blocks(s[0], s[1]), groupsInGrid(g, 1),
                KernelArgs.of().ptr(b.address(dy)).ptr(b.address(weight)).ptr(b.address(dx)).ints(dims(g)));
    }

    static void backwardWeight(CudaBackend b, ConvGeometry g, Kernel kernel, Tensor x, Tensor dy, Tensor dWeight) {
        long[] s = gemmShape(Pass.BACKWARD_WEIGHT, g);
        long blocks = kernel.blocks(s[0], s[1]), outputs = (long) g.outC() * s[1];
        int splits = Math.min(CudaGemm.splits(blocks * g.groups(), s[2], b.gpu().multiprocessors(), outputs),
                CudaGemm.MAX_GRID_Z / g.groups());
        Storage ws = splits > 1 ? b.allocateUninitialized(Math.toIntExact(splits * outputs)) : null;
        try {
            long wsAddress = ws == null ? 0 : b.address(ws);
            CudaGemm.launch(b, kernel, name(Pass.BACKWARD_WEIGHT, kernel), blocks, groupsInGrid(g, splits),
                    KernelArgs.of().ptr(b.address(x)).ptr(b.address(dy)).ptr(b.address(dWeight)).ptr(wsAddress)
                            .ints(dims(g)).i32(splits));
            if (splits > 1)   // groups × (cout × K) outputs, dW's groups contiguous
                CudaGemm.reduceSplits(b, wsAddress, b.address(dWeight), s[0] * s[1], g.groups(), (int) s[0], (int) s[1],
                        splits, 1f, 0f);
        } finally {
            if (ws != null) b.release(ws);
        }
    }

    static String name(Pass pass, Kernel kernel) {
        return pass.prefix + kernel.id + "_f32";
    }

    /** grid z = groups × splits, within the grid's limit. */
    private static int groupsInGrid(ConvGeometry g, int splits) {
        long z = (long) g.groups() * splits;
        if (z > CudaGemm.MAX_GRID_Z)
            throw new CudaException("conv2d with " + g.groups() + " groups: more than " + CudaGemm.MAX_GRID_Z
                    + " groups are not supported by the CUDA kernels (" + g + ")");
        return (int) z;
    }

    /** convolution.cu's ConvGemmDims: ConvGeometry's 16 ints in record order. */
    static int[] dims(ConvGeometry g) {
        return new int[] {g.n(), g.inC(), g.h(), g.w(), g.outC(), g.kh(), g.kw(), g.strideH(), g.strideW(),
                g.padH(), g.padW(), g.dilationH(), g.dilationW(), g.groups(), g.oh(), g.ow()};
    }
}
