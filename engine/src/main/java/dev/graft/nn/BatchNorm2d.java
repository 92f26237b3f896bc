package dev.graft.nn;

import dev.graft.GraftException;
import dev.graft.backend.UnaryOp;
import dev.graft.ops.Normalization;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * torch.nn.BatchNorm2d (affine, tracking running statistics): parameters {@code weight} (ones) and
 * {@code bias} (zeros), buffers {@code running_mean} (zeros) and {@code running_var} (ones), all of
 * shape (C). {@code num_batches_tracked} is not kept (importers skip it). In training mode it
 * normalizes with the batch's statistics and updates the running ones by
 * {@code running = (1 − momentum)·running + momentum·batch}; in evaluation mode, when frozen
 * ({@link Module#freeze()}) or with {@link Module#setBatchNormInference(boolean)} it normalizes with
 * the running statistics and leaves them untouched.
 */
public class BatchNorm2d extends Module {
    private final int numFeatures;
    private final double eps, momentum;

    public BatchNorm2d(int numFeatures, double eps, double momentum) {
        if (numFeatures <= 0) throw new GraftException("BatchNorm2d: num_features must be positive, got " + numFeatures);
        if (!(eps > 0)) throw new GraftException("BatchNorm2d: eps must be positive, got " + eps);
        if (!(momentum >= 0 && momentum <= 1)) throw new GraftException("BatchNorm2d: momentum must be in [0, 1], got " + momentum);
        this.numFeatures = numFeatures;
        this.eps = eps;
        this.momentum = momentum;
        Init.ones(parameter("weight", Tensor.zeros(numFeatures)));
        parameter("bias", Tensor.zeros(numFeatures));
        buffer("running_mean", Tensor.zeros(numFeatures));
        Init.ones(buffer("running_var", Tensor.zeros(numFeatures)));
    }

    /** eps 1e-5, momentum 0.1 (PyTorch's defaults). */
    public BatchNorm2d(int numFeatures) {
        this(numFeatures, 1e-5, 0.1);
    }

    @Override
    public Tensor forward(Tensor x) {
        return forward(x, null);
    }

    /** {@code act(forward(x))} as one fused op ({@link Normalization#batchNorm} with an activation); act ReLU, ReLU6 or null. */
    public Tensor forward(Tensor x, UnaryOp act) {
        return forward(x, null, act);
    }

    /**
     * {@code act(forward(x) + residual)} as one fused op ({@link Normalization#batchNormAddActivation}),
     * act ReLU or ReLU6; with a null residual, {@link #forward(Tensor, UnaryOp)}.
     */
    public Tensor forward(Tensor x, Tensor residual, UnaryOp act) {
        if (x.dim() != 4) throw new GraftException("BatchNorm2d: expected 4D input (N, C, H, W), got shape " + Arrays.toString(x.shape()));
        boolean batchStats = isTraining() && !statsFrozen();
        return residual == null
                ? Normalization.batchNorm(x, runningMean(), runningVar(), weight(), bias(), batchStats, momentum, eps, act)
                : Normalization.batchNormAddActivation(x, runningMean(), runningVar(), weight(), bias(), batchStats, momentum, eps, residual, act);
    }

    /**
     * {@code activation.forward(norm.forward(conv.forward(x)))} (activation may be null): one fused
     * convolution + batch norm (+ ReLU/ReLU6) kernel when the modules are plain Conv2d, BatchNorm2d
     * and ReLU/ReLU6, the batch norm uses its running statistics (evaluation mode or frozen) and
     * nothing needs a gradient, as in inference and feature extraction; otherwise
     * {@link #forwardThen} after the convolution.
     */
    public static Tensor convForwardThen(Module conv, Module norm, Module activation, Tensor x) {
        UnaryOp act = activation == null ? null : activationOf(activation);
        if ((activation == null || act != null) && fusesInference(conv, norm, x)) {
            Conv2d cv = (Conv2d) conv;
            BatchNorm2d bn = (BatchNorm2d) norm;
            return dev.graft.ops.Convolution.conv2dBatchNorm(x, cv.weight(), cv.bias(), cv.stride(), cv.padding(), cv.dilation(),
                    cv.groups(), bn.runningMean(), bn.runningVar(), bn.weight(), bn.bias(), bn.eps(), act);
        }
        Tensor y = conv.forward(x);
        return activation == null ? norm.forward(y) : forwardThen(norm, activation, y);
    }

    /**
     * Whether conv → norm can run as one inference kernel: a plain Conv2d and BatchNorm2d, the batch
     * norm on its running statistics (evaluation mode or frozen), and no gradient needed.
     */
    private static boolean fusesInference(Module conv, Module norm, Tensor x) {
        if (conv.getClass() != Conv2d.class || norm.getClass() != BatchNorm2d.class || x.dim() != 4) return false;
        Conv2d cv = (Conv2d) conv;
        BatchNorm2d bn = (BatchNorm2d) norm;
        return (!bn.isTraining() || bn.statsFrozen())
                && !dev.graft.autograd.Autograd.needsGrad(x, cv.weight(), cv.bias(), bn.weight(), bn.bias());
    }

    /**
     * {@code activation.forward(norm.forward(conv.forward(x)).add(residual))}, a residual block's end.
     * In inference (the conditions of {@link #convForwardThen}) the convolution and batch norm are one
     * fused kernel; otherwise, with a plain BatchNorm2d and ReLU/ReLU6, the batch norm, addition and
     * activation are one op ({@link Normalization#batchNormAddActivation}); any other modules run in
     * sequence.
     */
    public static Tensor convForwardAddThen(Module conv, Module norm, Tensor residual, Module activation, Tensor x) {
        UnaryOp act = activationOf(activation);
        if (fusesInference(conv, norm, x) || norm.getClass() != BatchNorm2d.class || act == null)
            return activation.forward(convForwardThen(conv, norm, null, x).add(residual));
        return ((BatchNorm2d) norm).forward(conv.forward(x), residual, act);
    }

    private static UnaryOp activationOf(Module activation) {
        return activation.getClass() == ReLU.class ? UnaryOp.RELU : activation.getClass() == ReLU6.class ? UnaryOp.RELU6 : null;
    }

    /**
     * {@code activation.forward(norm.forward(x))}, fused into one op when norm is a plain BatchNorm2d and
     * activation a plain ReLU or ReLU6; otherwise the two modules run as they are (so replacing either
     * child with another module keeps working).
     */
    public static Tensor forwardThen(Module norm, Module activation, Tensor x) {
        if (norm != null && norm.getClass() == BatchNorm2d.class && activation != null) {
            UnaryOp act = activationOf(activation);
            if (act != null) return ((BatchNorm2d) norm).forward(x, act);
        }
        return activation.forward(norm.forward(x));
    }

    /** Whether the running statistics are fixed regardless of the training mode (frozen or BN-inference). */
    public boolean statsFrozen() {
        return isFrozen() || isBatchNormInference();
    }

    public Tensor weight() { return param("weight"); }
    public Tensor bias() { return param("bias"); }
    public Tensor runningMean() { return buf("running_mean"); }
    public Tensor runningVar() { return buf("running_var"); }
    public int numFeatures() { return numFeatures; }
    public double eps() { return eps; }
    public double momentum() { return momentum; }

    @Override
    protected String extraRepr() {
        return numFeatures + ", eps=" + pyFloat(eps) + ", momentum=" + pyFloat(momentum) + ", affine=True, track_running_stats=True";
    }
}
