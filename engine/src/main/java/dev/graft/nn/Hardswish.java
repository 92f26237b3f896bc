package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.Hardswish: x·relu6(x + 3)/6 element-wise. No parameters. */
public class Hardswish extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.hardswish(x);
    }
}
