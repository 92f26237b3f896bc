package dev.graft.nn;

import dev.graft.autograd.Autograd;
import dev.graft.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Parameter initialization, as {@code torch.nn.init}, drawing from one global seedable generator so a
 * model built after {@link #manualSeed(long)} is the same every run (the values differ from PyTorch's:
 * only the distributions match). Not thread-safe: build models on one thread. All functions fill the
 * tensor in place without recording gradients and return it.
 */
public final class Init {
    /** PyTorch's default CPU generator seed. */
    public static final long DEFAULT_SEED = 67280421310721L;

    private static RandomGenerator generator = new SplittableRandom(DEFAULT_SEED);

    private Init() {}

    /** Reseeds the global generator (as torch.manual_seed). */
    public static synchronized void manualSeed(long seed) {
        generator = new SplittableRandom(seed);
    }

    /** The global generator that layer constructors draw from. */
    public static synchronized RandomGenerator generator() {
        return generator;
    }

    /** Which fan {@link #kaimingNormal} scales by. */
    public enum FanMode { FAN_IN, FAN_OUT }

    /** fan_in of a weight shaped (out, in, k...) or (out, in): in × receptive field. */
    public static int fanIn(int[] shape) {
        if (shape.length < 2) throw new IllegalArgumentException("fan in/out needs a tensor with at least 2 dimensions");
        return shape[1] * receptive(shape);
    }

    /** fan_out of a weight shaped (out, in, k...) or (out, in): out × receptive field. */
    public static int fanOut(int[] shape) {
        if (shape.length < 2) throw new IllegalArgumentException("fan in/out needs a tensor with at least 2 dimensions");
        return shape[0] * receptive(shape);
    }

    private static int receptive(int[] shape) {
        int r = 1;
        for (int i = 2; i < shape.length; i++) r *= shape[i];
        return r;
    }

    /** U(low, high). */
    public static Tensor uniform(Tensor t, double low, double high) {
        RandomGenerator g = generator();
        double[] v = new double[t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = low + (high - low) * g.nextDouble();
        return write(t, v);
    }

    /** N(mean, std²). */
    public static Tensor normal(Tensor t, double mean, double std) {
        RandomGenerator g = generator();
        double[] v = new double[t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = mean + std * g.nextGaussian();
        return write(t, v);
    }

    public static Tensor constant(Tensor t, double value) {
        try (var _ = Autograd.noGrad()) {
            t.fill(value);
        }
        return t;
    }

    public static Tensor zeros(Tensor t) {
        return constant(t, 0);
    }

    public static Tensor ones(Tensor t) {
        return constant(t, 1);
    }

    /**
     * kaiming_uniform_(t, a) with mode fan_in and leaky_relu gain √(2 / (1 + a²)): U(−b, b) with
     * b = gain·√(3 / fan_in). With a = √5 (PyTorch's Conv2d/Linear default) b = 1/√fan_in.
     */
    public static Tensor kaimingUniform(Tensor t, double a) {
        double gain = Math.sqrt(2.0 / (1 + a * a));
        double bound = gain * Math.sqrt(3.0 / fanIn(t.shape()));
        return uniform(t, -bound, bound);
    }

    /** kaiming_normal_(t, a, mode) with leaky_relu gain √(2 / (1 + a²)) (a = 0: ReLU, as torchvision's ResNet). */
    public static Tensor kaimingNormal(Tensor t, double a, FanMode mode) {
        double gain = Math.sqrt(2.0 / (1 + a * a));
        int fan = mode == FanMode.FAN_IN ? fanIn(t.shape()) : fanOut(t.shape());
        return normal(t, 0, gain / Math.sqrt(fan));
    }

    /** xavier_uniform_: U(−b, b) with b = √(6 / (fan_in + fan_out)). */
    public static Tensor xavierUniform(Tensor t) {
        double bound = Math.sqrt(6.0 / (fanIn(t.shape()) + fanOut(t.shape())));
        return uniform(t, -bound, bound);
    }

    private static Tensor write(Tensor t, double[] v) {
        try (var _ = Autograd.noGrad()) {
            t.copyFrom(Tensor.of(v, t.shape()));
        }
        return t;
    }
}
