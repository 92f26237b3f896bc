package dev.graft.testing;

import dev.graft.autograd.Autograd;
import dev.graft.backend.cpu.DoubleStorage;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference gradient check in double precision: compares the autograd gradient of
 * {@code L = Σ f(inputs) ⊙ dy} (a random upstream gradient, never a plain sum) with central
 * differences, for every element of every input.
 */
public final class GradCheck {
    private GradCheck() {}

    public static final double EPS = 1e-6;
    /** Allowed |analytic − numeric| relative to max(1, |numeric|); central differences in double are good to ~1e-9. */
    public static final double TOLERANCE = 1e-6;

    /** Random float64 values in [-1, 1) kept at least {@code gap} away from every point in {@code kinks}. */
    public static Tensor input(Random rng, double gap, double[] kinks, int... shape) {
        int n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            double x;
            do {
                x = rng.nextDouble() * 2 - 1;
            } while (nearAny(x, kinks, gap));
            v[i] = x;
        }
        return Tensor.of(v, shape).requiresGrad(true);
    }

    public static Tensor input(Random rng, int... shape) {
        return input(rng, 0, new double[0], shape);
    }

    private static boolean nearAny(double x, double[] points, double gap) {
        for (double p : points) if (Math.abs(x - p) < gap) return true;
        return false;
    }

    /** Runs the check; throws AssertionError naming the input, element and both values on mismatch. */
    public static void check(String name, Function<Tensor[], Tensor> f, Tensor... inputs) {
        for (Tensor t : inputs) {
            if (t.dtype() != DType.FLOAT64) throw new IllegalArgumentException("gradcheck inputs must be float64");
            t.zeroGrad();
        }
        Tensor out = f.apply(inputs);
        Random rng = new Random(name.hashCode());
        double[] dyv = new double[out.numel()];
        for (int i = 0; i < dyv.length; i++) dyv[i] = rng.nextDouble() * 2 - 1;
        Tensor dy = Tensor.of(dyv, out.shape());
        out.backward(dy);

        for (int k = 0; k < inputs.length; k++) {
            Tensor in = inputs[k];
            if (!in.requiresGrad()) continue;
            double[] analytic = in.grad() == null ? new double[in.numel()] : in.grad().toDoubleArray();
            double[] data = ((DoubleStorage) in.storage()).data;
            for (int i = 0; i < in.numel(); i++) {
                int pos = in.offset() + i; // inputs are fresh contiguous leaves
                double saved = data[pos];
                data[pos] = saved + EPS;
                double plus = loss(f, inputs, dy);
                data[pos] = saved - EPS;
                double minus = loss(f, inputs, dy);
                data[pos] = saved;
                double numeric = (plus - minus) / (2 * EPS);
                double diff = Math.abs(numeric - analytic[i]);
                if (diff > TOLERANCE * Math.max(1, Math.abs(numeric)))
                    throw new AssertionError(String.format("%s: gradient of input %d %s at element %d: analytic %.10g, numeric %.10g (diff %.3g)",
                            name, k, Arrays.toString(in.shape()), i, analytic[i], numeric, diff));
            }
        }
    }

    private static double loss(Function<Tensor[], Tensor> f, Tensor[] inputs, Tensor dy) {
        try (var _ = Autograd.noGrad()) {
            double[] y = f.apply(inputs).toDoubleArray();
            double[] d = dy.toDoubleArray();
            double s = 0;
            for (int i = 0; i < y.length; i++) s += y[i] * d[i];
            return s;
        }
    }
}
