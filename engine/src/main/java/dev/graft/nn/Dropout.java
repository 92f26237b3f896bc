package dev.graft.nn;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * torch.nn.Dropout: in training mode zeroes each element with probability p and scales the rest by
 * 1/(1−p); in evaluation mode returns its input. The mask comes from a generator the module owns,
 * seeded explicitly or from {@link Init#generator()} at construction (so reproducible after
 * {@link Init#manualSeed}).
 */
public class Dropout extends Module {
    private final double p;
    private RandomGenerator rng;

    public Dropout(double p, long seed) {
        if (!(p >= 0 && p <= 1)) throw new GraftException("Dropout: probability must be in [0, 1], got " + p);
        this.p = p;
        this.rng = new SplittableRandom(seed);
    }

    public Dropout(double p) {
        this(p, Init.generator().nextLong());
    }

    /** p = 0.5. */
    public Dropout() {
        this(0.5);
    }

    /** Restarts the mask sequence from {@code seed}. */
    public void reseed(long seed) {
        rng = new SplittableRandom(seed);
    }

    public double p() {
        return p;
    }

    @Override
    public Tensor forward(Tensor x) {
        return dev.graft.ops.Dropout.dropout(x, p, isTraining(), rng);
    }

    @Override
    protected String extraRepr() {
        return "p=" + pyFloat(p) + ", inplace=False";
    }
}
