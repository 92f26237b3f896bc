package dev.graft.backend;

import dev.graft.GraftException;
import java.util.Arrays;

/**
 * Shapes of a 2-D convolution, NCHW input (n, inC, h, w), OIHW weight (outC, inC / groups, kh, kw),
 * NCHW output (n, outC, oh, ow). Output sizes follow PyTorch:
 * {@code oh = (h + 2 * padH - dilationH * (kh - 1) - 1) / strideH + 1}.
 */
public record ConvGeometry(int n, int inC, int h, int w, int outC, int kh, int kw,
                           int strideH, int strideW, int padH, int padW, int dilationH, int dilationW,
                           int groups, int oh, int ow) {

    public static ConvGeometry of(int[] xShape, int[] wShape, int[] stride, int[] padding, int[] dilation, int groups) {
        if (xShape.length != 4) throw new GraftException("conv2d expects a 4-D NCHW input, got shape " + Arrays.toString(xShape));
        if (wShape.length != 4) throw new GraftException("conv2d expects a 4-D OIHW weight, got shape " + Arrays.toString(wShape));
        if (groups < 1 || xShape[1] % groups != 0 || wShape[0] % groups != 0)
            throw new GraftException("conv2d: channels " + xShape[1] + " -> " + wShape[0] + " not divisible by groups " + groups);
        if (wShape[1] * groups != xShape[1])
            throw new GraftException("conv2d: input " + Arrays.toString(xShape) + " has " + xShape[1]
                    + " channels but weight " + Arrays.toString(wShape) + " expects " + wShape[1] * groups);
        int oh = (xShape[2] + 2 * padding[0] - dilation[0] * (wShape[2] - 1) - 1) / stride[0] + 1;
        int ow = (xShape[3] + 2 * padding[1] - dilation[1] * (wShape[3] - 1) - 1) / stride[1] + 1;
        if (oh <= 0 || ow <= 0)
            throw new GraftException("conv2d: input " + Arrays.toString(xShape) + " is too small for kernel "
                    + Arrays.toString(wShape) + " (output would be " + oh + "x" + ow + ")");
        return new ConvGeometry(xShape[0], xShape[1], xShape[2], xShape[3], wShape[0], wShape[2], wShape[3],
                stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups, oh, ow);
    }

    public int inPerGroup() { return inC / groups; }
    public int outPerGroup() { return outC / groups; }
    public int[] outputShape() { return new int[] {n, outC, oh, ow}; }
    public int[] weightShape() { return new int[] {outC, inC / groups, kh, kw}; }
    public boolean isDepthwise() { return groups == inC && groups == outC; }

    /** Multiply-adds of the forward pass. */
    public long macs() {
        return (long) n * outC * oh * ow * (inC / groups) * kh * kw;
    }
}
