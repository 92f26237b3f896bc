package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.ReLU: max(0, x) element-wise. No parameters. */
public class ReLU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.relu(x);
    }
}
