package dev.graft.backend.cuda;

import dev.graft.tensor.Tensor;

/**
 * Host side of the optimizer kernels ({@code optimizers.cu}): PyTorch's SGD and AdamW steps, in place
 * on contiguous tensors. The scalars are derived here exactly as the CPU backend's CpuOptimizers
 * derives them (hyperparameters rounded to float once; AdamW's bias corrections in double), and the
 * kernels round every product as Java does, so one step gives the CPU's result bit for bit.
 */
final class CudaOptimizers {
    private CudaOptimizers() {}

    /** {@code flags} bits of sgd_step_f32. */
    private static final int MOMENTUM = 1, NESTEROV = 2, FIRST_STEP = 4;

    static void sgd(CudaBackend b, Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum,
                    double dampening, double weightDecay, boolean nesterov, boolean firstStep) {
        boolean useMomentum = momentum != 0;
        if (useMomentum && momentumBuffer == null)
            throw new IllegalArgumentException("sgdStep: momentum " + momentum + " needs a momentum buffer");
        int flags = (useMomentum ? MOMENTUM : 0) | (nesterov ? NESTEROV : 0) | (firstStep ? FIRST_STEP : 0);
        long n = param.numel();
        b.launch1d("sgd_step_f32", n, KernelArgs.of().ptr(b.address(param)).ptr(b.address(grad))
                .ptr(useMomentum ? b.address(momentumBuffer) : 0L).i64(n)
                .f32((float) lr).f32((float) momentum).f32(1f - (float) dampening).f32((float) weightDecay).i32(flags));
    }

    static void adamw(CudaBackend b, Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1,
                      double beta2, double eps, double weightDecay, int step) {
        // The scalars as PyTorch computes them in Python (double), applied to float tensors.
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2, c1 = (float) (1 - beta1), c2 = (float) (1 - beta2);
        double bias1 = 1 - Math.pow(beta1, step), bias2 = 1 - Math.pow(beta2, step);
        float stepSize = (float) (lr / bias1), bias2Sqrt = (float) Math.sqrt(bias2);
        long n = param.numel();
        b.launch1d("adamw_step_f32", n, KernelArgs.of().ptr(b.address(param)).ptr(b.address(grad)).ptr(b.address(expAvg))
                .ptr(b.address(expAvgSq)).i64(n).f32(decay).f32(b1).f32(b2).f32(c1).f32(c2).f32(stepSize).f32(bias2Sqrt)
                .f32((float) eps));
    }
}
