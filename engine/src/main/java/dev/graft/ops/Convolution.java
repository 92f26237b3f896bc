package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.ConvGeometry;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** 2-D convolution (cross-correlation, as PyTorch), NCHW, with groups (depthwise included). */
public final class Convolution {
    private Convolution() {}

    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation, int groups) {
        Elementwise.checkSameBackend("conv2d", x, weight);
        ConvGeometry g = ConvGeometry.of(x.shape(), weight.shape(), stride, padding, dilation, groups);
        if (bias != null && (bias.dim() != 1 || bias.size(0) != g.outC()))
            throw new GraftException("conv2d: bias " + Arrays.toString(bias.shape()) + " does not fit weight " + Arrays.toString(weight.shape()));
        Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias == null ? null : bias.contiguous();
        Tensor y = x.newEmpty(g.outputShape());
        x.backend().conv2dForward(g, xc, wc, bc, y);
        return Autograd.record("Conv2d", y, new Tensor[] {xc, wc, bc}, dy -> {
            Tensor dyc = dy.contiguous();
            Tensor dx = null, dw = null, db = null;
            if (xc.requiresGrad()) {
                dx = xc.newEmpty(xc.shape());
                xc.backend().conv2dBackwardData(g, dyc, wc, dx);
            }
            if (wc.requiresGrad()) {
                dw = wc.newEmpty(wc.shape());
                wc.backend().conv2dBackwardWeight(g, xc, dyc, dw);
            }
            if (bc != null && bc.requiresGrad()) db = Reductions.sum(dyc, new int[] {0, 2, 3}, false);
            return new Tensor[] {dx, dw, db};
        });
    }

    /**
     * {@code act(batchNorm(conv2d(x, weight, bias)))} with the running statistics, for inference (or
     * frozen layers) when nothing needs a gradient: one fused kernel where the backend has one (the
     * CPU applies batch norm and activation in the GEMM's epilogue, bit-identical to the three ops).
     * act is ReLU, ReLU6 or null. Records no gradient: callers use it only when
     * {@link Autograd#needsGrad} is false for every input.
     */
    public static Tensor conv2dBatchNorm(Tensor x, Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation,
                                         int groups, Tensor runningMean, Tensor runningVar, Tensor bnWeight, Tensor bnBias,
                                         double eps, dev.graft.backend.UnaryOp act) {
        if (Autograd.needsGrad(x, weight, bias, bnWeight, bnBias))
            throw new IllegalStateException("conv2dBatchNorm records no gradient; an input requires one");
        if (act != null && act != dev.graft.backend.UnaryOp.RELU && act != dev.graft.backend.UnaryOp.RELU6)
            throw new GraftException("conv2dBatchNorm: activation must be ReLU or ReLU6, got " + act);
        Elementwise.checkSameBackend("conv2d", x, weight);
        ConvGeometry g = ConvGeometry.of(x.shape(), weight.shape(), stride, padding, dilation, groups);
        for (Tensor p : new Tensor[] {bias, runningMean, runningVar, bnWeight, bnBias})
            if (p != null && (p.dim() != 1 || p.size(0) != g.outC()))
                throw new GraftException("conv2dBatchNorm: per-channel tensor of shape " + Arrays.toString(p.shape())
                        + " does not fit " + g.outC() + " output channels");
        Tensor y = x.newEmpty(g.outputShape());
        x.backend().conv2dBatchNormForward(g, x.contiguous(), weight.contiguous(), bias == null ? null : bias.contiguous(),
                runningMean.contiguous(), Normalization.inverseStd(runningVar.contiguous(), eps),
                bnWeight == null ? null : bnWeight.contiguous(), bnBias == null ? null : bnBias.contiguous(), act, y);
        return y;
    }

    /** Convenience: square kernel parameters. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, int dilation, int groups) {
        return conv2d(x, weight, bias, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {dilation, dilation}, groups);
    }
}
