package dev.graft.parity;

import dev.graft.io.Npy;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * Compares Graft's results with a reference: the error is max|graft − ref| / max(max|ref|, 1e-3),
 * which must not exceed the tolerance. Mismatches report the first differing elements (index, graft,
 * ref) and the maximum difference.
 */
public final class Compare {
    private Compare() {}

    /** Floor of the scale the absolute difference is divided by. */
    public static final double SCALE_FLOOR = 1e-3;
    /** How many differing elements a failure lists. */
    private static final int SHOW = 6;

    /** The relative error of graft against ref (after checking shapes); throws AssertionError above tol. */
    public static double check(String what, Tensor graft, Npy.Array ref, double tol) {
        if (graft == null) throw new AssertionError(what + ": Graft produced nothing (null; e.g. no gradient reached this input)");
        if (!Arrays.equals(graft.shape(), ref.shape()))
            throw new AssertionError(what + ": shape " + Arrays.toString(graft.shape()) + ", reference " + Arrays.toString(ref.shape()));
        return check(what, graft.toDoubleArray(), ref.toDoubleArray(), ref.shape(), tol);
    }

    /** As {@link #check(String, Tensor, Npy.Array, double)} on flat C-order values of the given shape. */
    public static double check(String what, double[] graft, double[] ref, int[] shape, double tol) {
        if (graft.length != ref.length)
            throw new AssertionError(what + ": " + graft.length + " values, reference has " + ref.length);
        double maxRef = 0, maxDiff = 0;
        int worst = -1;
        boolean nan = false;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            double d = Math.abs(graft[i] - ref[i]);
            if (Double.isNaN(d)) {
                nan = true;
                if (worst < 0) worst = i;
            } else if (d > maxDiff) {
                maxDiff = d;
                worst = i;
            }
        }
        double scale = Math.max(maxRef, SCALE_FLOOR);
        double rel = nan ? Double.NaN : maxDiff / scale;
        if (nan || rel > tol) {
            StringBuilder sb = new StringBuilder(what).append(": max |graft - ref| = ").append(fmt(maxDiff))
                    .append(" at ").append(index(worst, shape)).append(", relative ").append(fmt(rel))
                    .append(" > ").append(fmt(tol)).append(" (max |ref| = ").append(fmt(maxRef)).append(")");
            if (nan) sb.append(", NaN present");
            sb.append("; first differing (index, graft, ref):");
            int shown = 0;
            for (int i = 0; i < ref.length && shown < SHOW; i++) {
                double d = Math.abs(graft[i] - ref[i]);
                if (Double.isNaN(d) || d / scale > tol) {
                    sb.append(' ').append(index(i, shape)).append(' ').append(graft[i]).append(' ').append(ref[i]).append(';');
                    shown++;
                }
            }
            throw new AssertionError(sb.toString());
        }
        return rel;
    }

    private static String index(int flat, int[] shape) {
        if (flat < 0) return "-";
        int[] idx = new int[shape.length];
        for (int k = shape.length - 1; k >= 0; k--) {
            int d = Math.max(1, shape[k]);
            idx[k] = flat % d;
            flat /= d;
        }
        return Arrays.toString(idx);
    }

    static String fmt(double v) {
        return String.format("%.3g", v);
    }
}
