package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaReductions {
    private CudaReductions() {}

    static void sum(CudaBackend b, int[] shape, Tensor x, int[] outStrides, Tensor out) { throw new UnsupportedOperationException("not yet"); }
    static void softmax(CudaBackend b, Tensor x, Tensor y, int outer, int n, int inner, boolean log) { throw new UnsupportedOperationException("not yet"); }
    static void softmaxBackward(CudaBackend b, Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log) { throw new UnsupportedOperationException("not yet"); }
}
