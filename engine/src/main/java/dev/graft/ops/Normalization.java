package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.Backend;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Batch normalization over (N, C, ...) inputs, as torch.nn.functional.batch_norm. */
public final class Normalization {
    private Normalization() {}

    /**
     * In training mode normalizes with the batch's statistics and, when running statistics are given,
     * updates them in place: {@code running = (1 − momentum)·running + momentum·batch}, the variance
     * unbiased. Otherwise normalizes with the running statistics and leaves them untouched.
     * weight and bias may be null.
     */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps) {
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, null);
    }

    /**
     * {@code act(batchNorm(…))} as one op, for {@code act} ReLU or ReLU6 (null: none): one pass over
     * the data forward and backward instead of two, and the normalized pre-activation is never
     * stored (the backward masks the gradient with the output). Same values and gradients as the two
     * ops in sequence.
     */
    public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                   boolean training, double momentum, double eps, UnaryOp act) {
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, null, act);
    }

    /**
     * {@code act(batchNorm(…) + residual)} as one op, act ReLU or ReLU6, residual shaped like x: a
     * residual block's end. Neither the normalized tensor nor the sum is stored (PyTorch's in-place
     * ReLU saves the same memory); the backward masks dz with the output once and hands the masked
     * gradient to the batch norm and, unchanged, to the residual. Same values and gradients as the
     * three ops in sequence.
     */
    public static Tensor batchNormAddActivation(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                                boolean training, double momentum, double eps, Tensor residual, UnaryOp act) {
        if (act == null) throw new GraftException("batch_norm_add_activation needs an activation (ReLU or ReLU6)");
        if (!Arrays.equals(residual.shape(), x.shape()))
            throw new GraftException("batch_norm_add_activation: residual of shape " + Arrays.toString(residual.shape())
                    + " does not match input " + Arrays.toString(x.shape()));
        Elementwise.checkSameBackend("batch_norm_add_activation", x, residual);
        return batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, residual, act);
    }

    private static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                    boolean training, double momentum, double eps, Tensor residual, UnaryOp act) {
        if (act != null && act != UnaryOp.RELU && act != UnaryOp.RELU6)
            throw new GraftException("batch_norm: fused activation must be ReLU or ReLU6, got " + act);
        int[] xs = x.shape();
        if (xs.length < 2) throw new GraftException("batch_norm expects an (N, C, ...) input, got shape " + Arrays.toString(xs));
        int n = xs[0], c = xs[1], hw = x.numel() / Math.max(1, n * c);
        for (Tensor p : new Tensor[] {runningMean, runningVar, weight, bias})
            if (p != null && (p.dim() != 1 || p.size(0) != c))
                throw new GraftException("batch_norm: parameter of shape " + Arrays.toString(p.shape()) + " does not fit " + c + " channels of input " + Arrays.toString(xs));
        Backend be = x.backend();
        Tensor xc = x.contiguous();
        Tensor mean, invStd;
        if (training) {
            long m = (long) n * hw;
            if (m <= 1) throw new GraftException("batch_norm: expected more than 1 value per channel when training, got input of shape " + Arrays.toString(xs));
            mean = x.newZeros(c);
            Tensor var = x.newZeros(c);
            be.batchNormStats(n, c, hw, xc, mean, var);
            invStd = x.newZeros(c);
            boolean running = runningMean != null && runningVar != null;
            // The backend updates contiguous running statistics in place; other views go through copies.
            boolean inPlace = !running || (runningMean.isContiguous() && runningVar.isContiguous());
            Tensor rm = !running ? null : inPlace ? runningMean : runningMean.contiguous();
            Tensor rv = !running ? null : inPlace ? runningVar : runningVar.contiguous();
            be.batchNormUpdateStats(c, mean, var, eps, momentum, m, rm, rv, invStd);
            if (!inPlace) {
                runningMean.copyFrom(rm);
                runningVar.copyFrom(rv);
            }
        } else {
            if (runningMean == null || runningVar == null)
                throw new GraftException("batch_norm: evaluation mode needs running statistics");
            mean = runningMean.contiguous();
            invStd = inverseStd(runningVar.contiguous(), eps);
        }
        Tensor w = weight == null ? null : weight.contiguous();
        Tensor b = bias == null ? null : bias.contiguous();
        Tensor y = x.newEmpty(xs);
        Tensor rc = residual == null ? null : residual.contiguous();
        if (act == null) be.batchNormForward(n, c, hw, xc, mean, invStd, w, b, y);
        else if (rc == null) be.batchNormActivationForward(n, c, hw, xc, mean, invStd, w, b, act, y);
        else be.batchNormAddActivationForward(n, c, hw, xc, mean, invStd, w, b, rc, act, y);
        Tensor meanF = mean, invStdF = invStd;
        String name = "BatchNorm" + (rc == null ? "" : "Add") + (act == null ? "" : act == UnaryOp.RELU ? "ReLU" : "ReLU6");
        return Autograd.record(name, y, new Tensor[] {xc, w, b, rc}, dy -> {
            Tensor dx = xc.requiresGrad() ? xc.newEmpty(xs) : null;
            Tensor dw = w != null && w.requiresGrad() ? w.newZeros(c) : null;
            Tensor db = b != null && b.requiresGrad() ? b.newZeros(c) : null;
            Tensor dyc = dy.contiguous(), dr = null;
            if (act == null) {
                be.batchNormBackward(n, c, hw, xc, dyc, meanF, invStdF, w, training, dx, dw, db);
            } else if (rc == null) {
                be.batchNormActivationBackward(n, c, hw, xc, y, dyc, meanF, invStdF, w, training, act, dx, dw, db);
            } else {
                // The activation's gradient, read from its output, is the residual's gradient too.
                dr = y.newEmpty(xs);
                be.unaryBackward(act, y, dyc, dr);
                be.batchNormBackward(n, c, hw, xc, dr, meanF, invStdF, w, training, dx, dw, db);
            }
            return new Tensor[] {dx, dw, db, rc != null && rc.requiresGrad() ? dr : null};
        });
    }

    /** 1 / sqrt(var + eps) of a contiguous vector ({@link Backend#batchNormInverseStd}), no gradient. */
    static Tensor inverseStd(Tensor var, double eps) {
        Tensor invStd = var.newZeros(var.shape());
        var.backend().batchNormInverseStd(var.numel(), var, eps, invStd);
        return invStd;
    }
}
