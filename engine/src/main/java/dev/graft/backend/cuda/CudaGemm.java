package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaGemm {
    private CudaGemm() {}

    static void gemm(CudaBackend b, boolean transA, boolean transB, int batch, int m, int n, int k, double alpha, Tensor a, int strideA, Tensor bm, int strideB, double beta, Tensor c, int strideC) { throw new UnsupportedOperationException("not yet"); }
}
