package dev.graft.nn;

import dev.graft.ops.Pooling;
import dev.graft.tensor.Tensor;

/** torch.nn.AdaptiveAvgPool2d: averages NCHW input down to a fixed oh × ow output. */
public class AdaptiveAvgPool2d extends Module {
    private final int oh, ow;

    public AdaptiveAvgPool2d(int oh, int ow) {
        this.oh = oh;
        this.ow = ow;
    }

    /** A square output, e.g. 1 for global average pooling. */
    public AdaptiveAvgPool2d(int size) {
        this(size, size);
    }

    @Override
    public Tensor forward(Tensor x) {
        return Pooling.adaptiveAvgPool2d(x, oh, ow);
    }

    @Override
    protected String extraRepr() {
        return "output_size=" + tuple(new int[] {oh, ow});
    }
}
