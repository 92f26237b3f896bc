package dev.graft.backend;

import dev.graft.GraftException;
import java.util.Arrays;

/**
 * Shapes of a 2-D pooling window over NCHW input, with PyTorch's rules for padding, dilation
 * and ceil mode (a window may not start in the right/bottom padding).
 */
public record PoolGeometry(int n, int c, int h, int w, int kh, int kw, int strideH, int strideW,
                           int padH, int padW, int dilationH, int dilationW, int oh, int ow,
                           boolean ceilMode, boolean countIncludePad) {

    public static PoolGeometry of(int[] xShape, int[] kernel, int[] stride, int[] padding, int[] dilation,
                                  boolean ceilMode, boolean countIncludePad) {
        if (xShape.length != 4) throw new GraftException("pool2d expects a 4-D NCHW input, got shape " + Arrays.toString(xShape));
        if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1])
            throw new GraftException("pool2d: padding " + Arrays.toString(padding) + " must be at most half the kernel " + Arrays.toString(kernel));
        int oh = outSize(xShape[2], kernel[0], stride[0], padding[0], dilation[0], ceilMode);
        int ow = outSize(xShape[3], kernel[1], stride[1], padding[1], dilation[1], ceilMode);
        if (oh <= 0 || ow <= 0)
            throw new GraftException("pool2d: input " + Arrays.toString(xShape) + " is too small for kernel " + Arrays.toString(kernel));
        return new PoolGeometry(xShape[0], xShape[1], xShape[2], xShape[3], kernel[0], kernel[1], stride[0], stride[1],
                padding[0], padding[1], dilation[0], dilation[1], oh, ow, ceilMode, countIncludePad);
    }

    private static int outSize(int in, int k, int s, int p, int d, boolean ceil) {
        int span = in + 2 * p - d * (k - 1) - 1;
        int out = (ceil ? Math.ceilDiv(span, s) : Math.floorDiv(span, s)) + 1;
        // PyTorch: the last window must start inside the input or the left padding.
        if (ceil && (out - 1) * s >= in + p) out--;
        return out;
    }

    public int[] outputShape() { return new int[] {n, c, oh, ow}; }
}
