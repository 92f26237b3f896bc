package dev.graft.nn;

import dev.graft.GraftException;
import dev.graft.ops.Convolution;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * torch.nn.Conv2d over NCHW input: parameters {@code weight} (out, in/groups, kh, kw) and, unless
 * disabled, {@code bias} (out), both initialized U(−1/√fan_in, 1/√fan_in) as PyTorch
 * (kaiming_uniform with a = √5), fan_in = in/groups · kh · kw.
 */
public class Conv2d extends Module {
    private final int inChannels, outChannels, groups;
    private final int[] kernel, stride, padding, dilation;

    public Conv2d(int inChannels, int outChannels, int[] kernel, int[] stride, int[] padding, int[] dilation,
                  int groups, boolean bias) {
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.groups = groups;
        this.kernel = pair("kernel_size", kernel);
        this.stride = pair("stride", stride);
        this.padding = pair("padding", padding);
        this.dilation = pair("dilation", dilation);
        if (inChannels <= 0 || outChannels <= 0)
            throw new GraftException("Conv2d: channels must be positive, got in=" + inChannels + ", out=" + outChannels);
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new GraftException("Conv2d: in_channels " + inChannels + " and out_channels " + outChannels
                    + " must both be divisible by groups " + groups);
        for (int i = 0; i < 2; i++) {
            if (this.kernel[i] <= 0 || this.stride[i] <= 0 || this.dilation[i] <= 0 || this.padding[i] < 0)
                throw new GraftException("Conv2d: invalid geometry kernel_size=" + Arrays.toString(kernel) + " stride="
                        + Arrays.toString(stride) + " padding=" + Arrays.toString(padding) + " dilation=" + Arrays.toString(dilation));
        }
        Tensor w = parameter("weight", Tensor.zeros(outChannels, inChannels / groups, this.kernel[0], this.kernel[1]));
        Init.kaimingUniform(w, Math.sqrt(5));
        if (bias) {
            double bound = 1 / Math.sqrt(Init.fanIn(w.shape()));
            Init.uniform(parameter("bias", Tensor.zeros(outChannels)), -bound, bound);
        }
    }

    /** Square kernel, stride, padding and dilation. */
    public Conv2d(int inChannels, int outChannels, int kernel, int stride, int padding, int dilation, int groups, boolean bias) {
        this(inChannels, outChannels, new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding},
                new int[] {dilation, dilation}, groups, bias);
    }

    /** Square kernel, dilation 1, one group. */
    public Conv2d(int inChannels, int outChannels, int kernel, int stride, int padding, boolean bias) {
        this(inChannels, outChannels, kernel, stride, padding, 1, 1, bias);
    }

    /** Square kernel, stride 1, no padding, with bias (PyTorch's defaults). */
    public Conv2d(int inChannels, int outChannels, int kernel) {
        this(inChannels, outChannels, kernel, 1, 0, true);
    }

    private static int[] pair(String what, int[] v) {
        if (v == null || v.length != 2) throw new GraftException("Conv2d: " + what + " needs 2 values, got " + Arrays.toString(v));
        return v.clone();
    }

    @Override
    public Tensor forward(Tensor x) {
        return Convolution.conv2d(x, weight(), bias(), stride, padding, dilation, groups);
    }

    public Tensor weight() { return param("weight"); }
    /** The bias, or null when the layer has none. */
    public Tensor bias() { return param("bias"); }
    public int inChannels() { return inChannels; }
    public int outChannels() { return outChannels; }
    public int groups() { return groups; }
    public int[] kernelSize() { return kernel.clone(); }
    public int[] stride() { return stride.clone(); }
    public int[] padding() { return padding.clone(); }
    public int[] dilation() { return dilation.clone(); }

    @Override
    protected String extraRepr() {
        StringBuilder s = new StringBuilder().append(inChannels).append(", ").append(outChannels)
                .append(", kernel_size=").append(tuple(kernel)).append(", stride=").append(tuple(stride));
        if (padding[0] != 0 || padding[1] != 0) s.append(", padding=").append(tuple(padding));
        if (dilation[0] != 1 || dilation[1] != 1) s.append(", dilation=").append(tuple(dilation));
        if (groups != 1) s.append(", groups=").append(groups);
        if (bias() == null) s.append(", bias=False");
        return s.toString();
    }
}
