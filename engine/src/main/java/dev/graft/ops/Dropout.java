package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.random.RandomGenerator;

/** Inverted dropout, as torch.nn.functional.dropout. */
public final class Dropout {
    private Dropout() {}

    /** In training, zeroes each element with probability p and scales the rest by 1/(1−p); otherwise returns x. */
    public static Tensor dropout(Tensor x, double p, boolean training, RandomGenerator rng) {
        if (p < 0 || p > 1) throw new GraftException("dropout probability " + p + " outside [0, 1]");
        if (!training || p == 0) return x;
        double[] mask = new double[x.numel()];
        if (p < 1) {
            double keep = 1.0 / (1 - p);
            for (int i = 0; i < mask.length; i++) mask[i] = rng.nextDouble() >= p ? keep : 0;
        }
        return Elementwise.mul(x, Tensor.of(mask, x.shape()).to(x.backend()));
    }
}
