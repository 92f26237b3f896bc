package dev.graft.nn;

import dev.graft.tensor.Tensor;

/** torch.nn.Identity: returns its input (e.g. to remove a classifier head). */
public class Identity extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return x;
    }
}
