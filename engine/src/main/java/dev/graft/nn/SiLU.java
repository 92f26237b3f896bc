package dev.graft.nn;

import dev.graft.ops.Elementwise;
import dev.graft.tensor.Tensor;

/** torch.nn.SiLU: x·sigmoid(x) element-wise. No parameters. */
public class SiLU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Elementwise.silu(x);
    }
}
