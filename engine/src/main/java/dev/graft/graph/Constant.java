package dev.graft.graph;

import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;

/**
 * A constant tensor of an imported graph (an ONNX initializer used as an operand, for example), held
 * as the buffer {@code value} so that it is saved, loaded and moved with the graph's state dict.
 */
public final class Constant extends Module {
    public Constant(int[] shape) {
        buffer("value", Tensor.zeros(shape));
    }

    public Tensor value() {
        return buf("value");
    }

    /** Returns the value; the input is ignored. */
    @Override
    public Tensor forward(Tensor ignored) {
        return value();
    }
}
