package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaConvolution {
    private CudaConvolution() {}

    static void forward(CudaBackend b, ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) { throw new UnsupportedOperationException("not yet"); }
    static void backwardData(CudaBackend b, ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) { throw new UnsupportedOperationException("not yet"); }
    static void backwardWeight(CudaBackend b, ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) { throw new UnsupportedOperationException("not yet"); }
}
