package dev.graft.backend.cuda;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/** PLACEHOLDER (being written this session). */
final class CudaElementwise {
    private CudaElementwise() {}

    static void copy(CudaBackend b, int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides) { throw new UnsupportedOperationException("not yet"); }
    static void fill(CudaBackend b, Tensor dst, double value) { throw new UnsupportedOperationException("not yet"); }
    static void unary(CudaBackend b, UnaryOp op, Tensor x, Tensor y) {
        if (op == UnaryOp.RELU) {
            b.launch1d("relu_forward_f32", x.numel(), KernelArgs.of().ptr(b.address(x)).ptr(b.address(y)).i64(x.numel()));
            return;
        }
        throw new UnsupportedOperationException("not yet");
    }
    static void unaryBackward(CudaBackend b, UnaryOp op, Tensor x, Tensor dy, Tensor dx) { throw new UnsupportedOperationException("not yet"); }
    static void binary(CudaBackend b, BinaryOp op, int[] shape, Tensor x, int[] aStrides, Tensor y, int[] bStrides, Tensor out) { throw new UnsupportedOperationException("not yet"); }
    static void scalar(CudaBackend b, ScalarOp op, Tensor x, double s, Tensor y) { throw new UnsupportedOperationException("not yet"); }
}
