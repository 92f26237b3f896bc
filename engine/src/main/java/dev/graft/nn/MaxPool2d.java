package dev.graft.nn;

import dev.graft.ops.Pooling;
import dev.graft.tensor.Tensor;

/** torch.nn.MaxPool2d over NCHW input; padded positions count as −∞. */
public class MaxPool2d extends Module {
    private final int[] kernel, stride, padding, dilation;
    private final boolean ceilMode;

    public MaxPool2d(int[] kernel, int[] stride, int[] padding, int[] dilation, boolean ceilMode) {
        this.kernel = kernel.clone();
        this.stride = stride.clone();
        this.padding = padding.clone();
        this.dilation = dilation.clone();
        this.ceilMode = ceilMode;
    }

    /** Square window, dilation 1, floor mode. */
    public MaxPool2d(int kernel, int stride, int padding) {
        this(new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {1, 1}, false);
    }

    /** Square window with dilation and ceil mode. */
    public MaxPool2d(int kernel, int stride, int padding, int dilation, boolean ceilMode) {
        this(new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {dilation, dilation}, ceilMode);
    }

    /** Stride = kernel, no padding (PyTorch's defaults). */
    public MaxPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    @Override
    public Tensor forward(Tensor x) {
        return Pooling.maxPool2d(x, kernel, stride, padding, dilation, ceilMode);
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + scalarOrTuple(kernel) + ", stride=" + scalarOrTuple(stride) + ", padding=" + scalarOrTuple(padding)
                + ", dilation=" + scalarOrTuple(dilation) + ", ceil_mode=" + pyBool(ceilMode);
    }

    static String scalarOrTuple(int[] v) {
        return v[0] == v[1] ? Integer.toString(v[0]) : tuple(v);
    }
}
