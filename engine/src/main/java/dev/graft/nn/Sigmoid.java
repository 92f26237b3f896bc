package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.Sigmoid: 1/(1 + exp(−x)) element-wise. No parameters. */
public class Sigmoid extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.sigmoid(x);
    }
}
