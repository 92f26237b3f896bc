package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.Hardsigmoid: relu6(x + 3)/6 element-wise. No parameters. */
public class Hardsigmoid extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.hardsigmoid(x);
    }
}
