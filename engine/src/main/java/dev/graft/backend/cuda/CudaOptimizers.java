package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaOptimizers {
    private CudaOptimizers() {}

    static void sgd(CudaBackend b, Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum, double dampening, double weightDecay, boolean nesterov, boolean firstStep) { throw new UnsupportedOperationException("not yet"); }
    static void adamw(CudaBackend b, Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1, double beta2, double eps, double weightDecay, int step) { throw new UnsupportedOperationException("not yet"); }
}
