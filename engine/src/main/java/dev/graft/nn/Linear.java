package dev.graft.nn;

import dev.graft.GraftException;
import dev.graft.ops.LinearAlgebra;
import dev.graft.tensor.Tensor;

/**
 * torch.nn.Linear: y = x·weightᵀ + bias with {@code weight} (out, in) and {@code bias} (out), both
 * initialized U(−1/√in, 1/√in) as PyTorch.
 */
public class Linear extends Module {
    private final int inFeatures, outFeatures;

    public Linear(int inFeatures, int outFeatures, boolean bias) {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new GraftException("Linear: features must be positive, got in=" + inFeatures + ", out=" + outFeatures);
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        Init.kaimingUniform(parameter("weight", Tensor.zeros(outFeatures, inFeatures)), Math.sqrt(5));
        if (bias) {
            double bound = 1 / Math.sqrt(inFeatures);
            Init.uniform(parameter("bias", Tensor.zeros(outFeatures)), -bound, bound);
        }
    }

    /** With bias. */
    public Linear(int inFeatures, int outFeatures) {
        this(inFeatures, outFeatures, true);
    }

    @Override
    public Tensor forward(Tensor x) {
        return LinearAlgebra.linear(x, weight(), bias());
    }

    public Tensor weight() { return param("weight"); }
    /** The bias, or null when the layer has none. */
    public Tensor bias() { return param("bias"); }
    public int inFeatures() { return inFeatures; }
    public int outFeatures() { return outFeatures; }

    @Override
    protected String extraRepr() {
        return "in_features=" + inFeatures + ", out_features=" + outFeatures + ", bias=" + pyBool(bias() != null);
    }
}
