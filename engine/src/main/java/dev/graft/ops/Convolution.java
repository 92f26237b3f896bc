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

    /** Convenience: square kernel parameters. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, int dilation, int groups) {
        return conv2d(x, weight, bias, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {dilation, dilation}, groups);
    }
}
