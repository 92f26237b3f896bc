package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.ReLU6: min(max(0, x), 6) element-wise. No parameters. */
public class ReLU6 extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.relu6(x);
    }
}
