package dev.graft.nn;

import dev.graft.tensor.Tensor;

/** torch.nn.Flatten: merges dimensions startDim..endDim (default 1..−1). */
public class Flatten extends Module {
    private final int startDim, endDim;

    public Flatten(int startDim, int endDim) {
        this.startDim = startDim;
        this.endDim = endDim;
    }

    /** Flattens every dimension but the batch one. */
    public Flatten() {
        this(1, -1);
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.flatten(startDim, endDim);
    }

    @Override
    protected String extraRepr() {
        return "start_dim=" + startDim + ", end_dim=" + endDim;
    }
}
