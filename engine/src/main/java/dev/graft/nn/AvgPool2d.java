package dev.graft.nn;

import dev.graft.ops.Pooling;
import dev.graft.tensor.Tensor;

/** torch.nn.AvgPool2d over NCHW input; by default the divisor counts padded positions (count_include_pad). */
public class AvgPool2d extends Module {
    private final int[] kernel, stride, padding;
    private final boolean ceilMode, countIncludePad;

    public AvgPool2d(int[] kernel, int[] stride, int[] padding, boolean ceilMode, boolean countIncludePad) {
        this.kernel = kernel.clone();
        this.stride = stride.clone();
        this.padding = padding.clone();
        this.ceilMode = ceilMode;
        this.countIncludePad = countIncludePad;
    }

    /** Square window, floor mode, count_include_pad. */
    public AvgPool2d(int kernel, int stride, int padding) {
        this(new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding}, false, true);
    }

    /** Stride = kernel, no padding (PyTorch's defaults). */
    public AvgPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    @Override
    public Tensor forward(Tensor x) {
        return Pooling.avgPool2d(x, kernel, stride, padding, ceilMode, countIncludePad);
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + MaxPool2d.scalarOrTuple(kernel) + ", stride=" + MaxPool2d.scalarOrTuple(stride)
                + ", padding=" + MaxPool2d.scalarOrTuple(padding)
                + (ceilMode ? ", ceil_mode=True" : "") + (countIncludePad ? "" : ", count_include_pad=False");
    }
}
