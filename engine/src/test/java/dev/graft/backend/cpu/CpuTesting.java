package dev.graft.backend.cpu;

import static org.assertj.core.api.Assertions.fail;

import dev.graft.backend.Backend;
import dev.graft.backend.reference.ReferenceBackend;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Random;

/** Helpers for comparing CpuBackend kernels with the float32 reference backend. */
final class CpuTesting {
    private CpuTesting() {}

    static final CpuBackend CPU = CpuBackend.instance();
    static final Backend REF = ReferenceBackend.FLOAT32;

    static Tensor zeros(int... shape) {
        return Tensor.zeros(CPU, shape);
    }

    static Tensor randn(Random rng, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) rng.nextGaussian();
        return Tensor.of(d, shape);
    }

    static Tensor uniform(Random rng, double lo, double hi, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return Tensor.of(d, shape);
    }

    /** Small integers, to produce ties (pooling) and exact sums. */
    static Tensor ints(Random rng, int bound, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = rng.nextInt(bound);
        return Tensor.of(d, shape);
    }

    /** A contiguous tensor of the given shape that starts {@code offset} elements into a NaN-padded storage. */
    static Tensor atOffset(Tensor src, int offset) {
        float[] v = src.toFloatArray();
        float[] padded = new float[v.length + offset + 5];
        java.util.Arrays.fill(padded, Float.NaN);
        System.arraycopy(v, 0, padded, offset, v.length);
        return new Tensor(new FloatStorage(padded), src.shape(), Shapes.contiguousStrides(src.shape()), offset);
    }

    static Tensor copy(Tensor t) {
        return Tensor.of(t.toFloatArray(), t.shape());
    }

    /** Raw storage contents (including anything around the tensor). */
    static float[] raw(Tensor t) {
        return ((FloatStorage) t.storage()).data.clone();
    }

    /**
     * Asserts |actual − expected| ≤ atol + rtol·|expected| element-wise (NaN must match NaN); on failure
     * reports the first few differing elements and the largest difference.
     */
    static void assertClose(String what, float[] actual, float[] expected, double rtol, double atol) {
        if (actual.length != expected.length) fail("%s: %d elements, expected %d", what, actual.length, expected.length);
        StringBuilder firsts = new StringBuilder();
        int bad = 0;
        double maxDiff = 0;
        int maxAt = -1;
        for (int i = 0; i < actual.length; i++) {
            float a = actual[i], e = expected[i];
            boolean ok;
            double diff;
            if (Float.isNaN(e) || Float.isNaN(a)) {
                ok = Float.isNaN(e) && Float.isNaN(a);
                diff = ok ? 0 : Double.POSITIVE_INFINITY;
            } else if (Float.isInfinite(e) || Float.isInfinite(a)) {
                ok = a == e;
                diff = ok ? 0 : Double.POSITIVE_INFINITY;
            } else {
                diff = Math.abs((double) a - e);
                ok = diff <= atol + rtol * Math.abs(e);
            }
            if (!ok) {
                if (bad < 5) firsts.append(String.format("%n  [%d] got %s expected %s (diff %.3g)", i, a, e, diff));
                bad++;
            }
            if (diff > maxDiff) {
                maxDiff = diff;
                maxAt = i;
            }
        }
        if (bad > 0) fail("%s: %d of %d elements differ; max difference %.3g at [%d]; first:%s",
                what, bad, actual.length, maxDiff, maxAt, firsts);
    }

    static void assertClose(String what, Tensor actual, Tensor expected, double rtol, double atol) {
        assertClose(what, actual.toFloatArray(), expected.toFloatArray(), rtol, atol);
    }

    /** Tolerance for sums of many products: absolute part scaled by the largest expected magnitude. */
    static void assertCloseScaled(String what, Tensor actual, Tensor expected, double tol) {
        float[] e = expected.toFloatArray();
        double scale = 1;
        for (float v : e) scale = Math.max(scale, Math.abs(v));
        assertClose(what, actual.toFloatArray(), e, tol, tol * scale);
    }

    static void assertBitIdentical(String what, float[] a, float[] b) {
        if (a.length != b.length) fail("%s: lengths %d and %d", what, a.length, b.length);
        for (int i = 0; i < a.length; i++)
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i]))
                fail("%s: differ at %d: %s vs %s", what, i, a[i], b[i]);
    }
}
