package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.backend.ConvGeometry;
import dev.graft.tensor.Tensor;

/**
 * GEMM and convolution on a chosen path, for benchmarks that compare Graft's own kernels with cuBLAS
 * and cuDNN on the same GPU in the same run ({@code benchmarks/}'s {@code CudaKernelBenchmark}). The
 * backend's ops pick the path themselves (the library where it loaded); this class forces one.
 */
public final class CudaKernels {
    private CudaKernels() {}

    /** Who computes: Graft's kernels or the vendor library, in exact FP32 or TF32 tensor-core math. */
    public enum Path {
        GRAFT_FP32, GRAFT_TF32, LIBRARY_FP32, LIBRARY_TF32;

        boolean tf32() {
            return this == GRAFT_TF32 || this == LIBRARY_TF32;
        }

        boolean library() {
            return this == LIBRARY_FP32 || this == LIBRARY_TF32;
        }
    }

    /** Whether {@code path} can run GEMMs on {@code b} (a library path needs cuBLAS loaded). */
    public static boolean gemmAvailable(CudaBackend b, Path path) {
        return !path.library() || b.libraries().cublas() != null;
    }

    /** Whether {@code path} can run convolutions on {@code b} (a library path needs cuDNN loaded). */
    public static boolean convAvailable(CudaBackend b, Path path) {
        return !path.library() || b.libraries().cudnn() != null;
    }

    /** C (m×n) = A (m×k) · B (k×n), row-major, on {@code path}. */
    public static void gemm(CudaBackend b, Path path, int m, int n, int k, Tensor a, Tensor bm, Tensor c) {
        if (path.library()) {
            CuBlas blas = b.libraries().cublas();
            if (blas == null) throw new GraftException("cuBLAS is not loaded on " + b.device() + ": " + b.libraries().summary());
            blas.sgemm(path.tf32(), false, false, 1, m, n, k, 1f, b.address(a), 0, b.address(bm), 0, 0f, b.address(c), 0);
        } else {
            CudaGemm.Kernel kernel = CudaGemm.Kernel.choose(path.tf32(), m, n, 1, b.gpu().multiprocessors());
            CudaGemm.gemm(b, kernel, false, false, 1, m, n, k, 1, a, 0, bm, 0, 0, c, 0);
        }
    }

    /** The three convolution passes of training, on {@code path} (depthwise geometries take Graft's depthwise kernels). */
    public static void conv2dForward(CudaBackend b, Path path, ConvGeometry g, Tensor x, Tensor w, Tensor y) {
        if (g.isDepthwise()) CudaDepthwise.forward(b, g, x, w, null, y);
        else if (path.library()) cudnn(b).forward(b, g, path.tf32(), x, w, null, y);
        else CudaConvolution.forward(b, g, CudaConvolution.kernel(b, CudaConvolution.Pass.FORWARD, g, path.tf32()), x, w, null, y);
    }

    public static void conv2dBackwardData(CudaBackend b, Path path, ConvGeometry g, Tensor dy, Tensor w, Tensor dx) {
        if (g.isDepthwise()) CudaDepthwise.backwardData(b, g, dy, w, dx);
        else if (path.library()) cudnn(b).backwardData(b, g, path.tf32(), dy, w, dx);
        else CudaConvolution.backwardData(b, g, CudaConvolution.kernel(b, CudaConvolution.Pass.BACKWARD_DATA, g, path.tf32()), dy, w, dx);
    }

    public static void conv2dBackwardWeight(CudaBackend b, Path path, ConvGeometry g, Tensor x, Tensor dy, Tensor dw) {
        if (g.isDepthwise()) CudaDepthwise.backwardWeight(b, g, x, dy, dw);
        else if (path.library()) cudnn(b).backwardWeight(b, g, path.tf32(), x, dy, dw);
        else CudaConvolution.backwardWeight(b, g, CudaConvolution.kernel(b, CudaConvolution.Pass.BACKWARD_WEIGHT, g, path.tf32()), x, dy, dw);
    }

    private static CuDnn cudnn(CudaBackend b) {
        CuDnn dnn = b.libraries().cudnn();
        if (dnn == null) throw new GraftException("cuDNN is not loaded on " + b.device() + ": " + b.libraries().summary());
        return dnn;
    }
}
