package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaPooling {
    private CudaPooling() {}

    static void maxForward(CudaBackend b, PoolGeometry g, Tensor x, Tensor y) { throw new UnsupportedOperationException("not yet"); }
    static void maxBackward(CudaBackend b, PoolGeometry g, Tensor x, Tensor dy, Tensor dx) { throw new UnsupportedOperationException("not yet"); }
    static void avgForward(CudaBackend b, PoolGeometry g, Tensor x, Tensor y) { throw new UnsupportedOperationException("not yet"); }
    static void avgBackward(CudaBackend b, PoolGeometry g, Tensor dy, Tensor dx) { throw new UnsupportedOperationException("not yet"); }
    static void adaptiveForward(CudaBackend b, int planes, int h, int w, int oh, int ow, Tensor x, Tensor y) { throw new UnsupportedOperationException("not yet"); }
    static void adaptiveBackward(CudaBackend b, int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx) { throw new UnsupportedOperationException("not yet"); }
}
