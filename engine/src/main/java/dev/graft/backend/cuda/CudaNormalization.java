package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaNormalization {
    private CudaNormalization() {}

    /** residual and act may be null. */
    static void forward(CudaBackend b, int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight, Tensor bias, Tensor residual, UnaryOp act, Tensor y) { throw new UnsupportedOperationException("not yet"); }
    static void stats(CudaBackend b, int n, int c, int hw, Tensor x, Tensor mean, Tensor var) { throw new UnsupportedOperationException("not yet"); }
    /** With act != null, dy is the gradient of z = act(bn(x)) and z is the activation's output. */
    static void backward(CudaBackend b, int n, int c, int hw, Tensor x, Tensor z, Tensor dy, Tensor mean, Tensor invStd, Tensor weight, boolean batchStats, UnaryOp act, Tensor dx, Tensor dWeight, Tensor dBias) { throw new UnsupportedOperationException("not yet"); }
}
