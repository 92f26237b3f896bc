package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.PoolGeometry;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Max, average and adaptive average pooling over NCHW inputs. */
public final class Pooling {
    private Pooling() {}

    public static Tensor maxPool2d(Tensor x, int[] kernel, int[] stride, int[] padding, int[] dilation, boolean ceilMode) {
        PoolGeometry g = PoolGeometry.of(x.shape(), kernel, stride, padding, dilation, ceilMode, true);
        Tensor xc = x.contiguous();
        Tensor y = x.newEmpty(g.outputShape());
        x.backend().maxPool2dForward(g, xc, y);
        return Autograd.record("MaxPool2d", y, new Tensor[] {xc}, dy -> {
            Tensor dx = xc.newEmpty(xc.shape());
            xc.backend().maxPool2dBackward(g, xc, dy.contiguous(), dx);
            return new Tensor[] {dx};
        });
    }

    public static Tensor maxPool2d(Tensor x, int kernel, int stride, int padding) {
        return maxPool2d(x, new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {1, 1}, false);
    }

    public static Tensor avgPool2d(Tensor x, int[] kernel, int[] stride, int[] padding, boolean ceilMode, boolean countIncludePad) {
        PoolGeometry g = PoolGeometry.of(x.shape(), kernel, stride, padding, new int[] {1, 1}, ceilMode, countIncludePad);
        Tensor xc = x.contiguous();
        Tensor y = x.newEmpty(g.outputShape());
        x.backend().avgPool2dForward(g, xc, y);
        int[] xs = x.shape();
        return Autograd.record("AvgPool2d", y, new Tensor[] {xc}, dy -> {
            Tensor dx = xc.newEmpty(xs);
            xc.backend().avgPool2dBackward(g, dy.contiguous(), dx);
            return new Tensor[] {dx};
        });
    }

    public static Tensor avgPool2d(Tensor x, int kernel, int stride, int padding) {
        return avgPool2d(x, new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding}, false, true);
    }

    /** Average pooling to an oh × ow output, as torch.nn.functional.adaptive_avg_pool2d. */
    public static Tensor adaptiveAvgPool2d(Tensor x, int oh, int ow) {
        int[] xs = x.shape();
        if (xs.length != 4) throw new GraftException("adaptive_avg_pool2d expects a 4-D NCHW input, got shape " + Arrays.toString(xs));
        if (oh <= 0 || ow <= 0) throw new GraftException("adaptive_avg_pool2d: output size " + oh + "x" + ow + " must be positive");
        int planes = xs[0] * xs[1], h = xs[2], w = xs[3];
        Tensor xc = x.contiguous();
        Tensor y = x.newEmpty(xs[0], xs[1], oh, ow);
        x.backend().adaptiveAvgPool2dForward(planes, h, w, oh, ow, xc, y);
        return Autograd.record("AdaptiveAvgPool2d", y, new Tensor[] {xc}, dy -> {
            Tensor dx = xc.newEmpty(xs);
            xc.backend().adaptiveAvgPool2dBackward(planes, h, w, oh, ow, dy.contiguous(), dx);
            return new Tensor[] {dx};
        });
    }
}
