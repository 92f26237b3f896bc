package dev.graft.tensor;

import dev.graft.GraftException;
import java.util.Arrays;

/** Shape arithmetic: element counts, strides, axes and NumPy broadcasting. */
public final class Shapes {
    private Shapes() {}

    public static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new GraftException("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
            if (n > Integer.MAX_VALUE) throw new GraftException("shape " + Arrays.toString(shape) + " has more than 2^31-1 elements");
        }
        return (int) n;
    }

    public static int[] contiguousStrides(int[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= Math.max(shape[i], 1);
        }
        return s;
    }

    /** Resolves a possibly negative axis against a rank. */
    public static int axis(int d, int rank) {
        int a = d < 0 ? d + rank : d;
        if (a < 0 || a >= rank) throw new GraftException("dimension " + d + " out of range for a " + rank + "-D tensor");
        return a;
    }

    /** The broadcast shape of a and b (NumPy rules). */
    public static int[] broadcast(int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)] : 1;
            int db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new GraftException("shapes " + Arrays.toString(a) + " and " + Arrays.toString(b) + " cannot be broadcast together");
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Strides that read a tensor of {@code shape}/{@code strides} as if it had {@code target} shape (0 on broadcast dims). */
    public static int[] broadcastStrides(int[] shape, int[] strides, int[] target) {
        int lead = target.length - shape.length;
        if (lead < 0) throw new GraftException("cannot broadcast shape " + Arrays.toString(shape) + " to " + Arrays.toString(target));
        int[] out = new int[target.length];
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == target[lead + i]) out[lead + i] = strides[i];
            else if (shape[i] == 1) out[lead + i] = 0;
            else throw new GraftException("cannot broadcast shape " + Arrays.toString(shape) + " to " + Arrays.toString(target));
        }
        return out;
    }

    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    /**
     * Drops size-1 dimensions and merges neighbours that are contiguous with each other in every
     * operand (a strided walk over the result visits the same elements in the same order). Returns
     * {shape, strides of operand 0, strides of operand 1, ...}; the shape of a scalar becomes empty.
     * Every backend's strided kernels use it.
     */
    public static int[][] coalesce(int[] shape, int[]... strides) {
        int n = strides.length;
        int[] sh = new int[shape.length];
        int[][] st = new int[n][shape.length];
        int r = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            if (r > 0) {
                boolean merge = true;
                for (int t = 0; t < n; t++) {
                    if (st[t][r - 1] != strides[t][d] * shape[d]) {
                        merge = false;
                        break;
                    }
                }
                if (merge) {
                    sh[r - 1] *= shape[d];
                    for (int t = 0; t < n; t++) st[t][r - 1] = strides[t][d];
                    continue;
                }
            }
            sh[r] = shape[d];
            for (int t = 0; t < n; t++) st[t][r] = strides[t][d];
            r++;
        }
        int[][] out = new int[n + 1][];
        out[0] = Arrays.copyOf(sh, r);
        for (int t = 0; t < n; t++) out[t + 1] = Arrays.copyOf(st[t], r);
        return out;
    }

    /**
     * Whether the element ranges [min, max] spanned by two strided views of {@code shape} (from offsets
     * {@code aOff} and {@code bOff}) intersect: a copy between such views of one storage must go through
     * a temporary.
     */
    public static boolean overlaps(int[] shape, int aOff, int[] aStrides, int bOff, int[] bStrides) {
        long aLo = aOff, aHi = aOff, bLo = bOff, bHi = bOff;
        for (int i = 0; i < shape.length; i++) {
            long ea = (long) (shape[i] - 1) * aStrides[i], eb = (long) (shape[i] - 1) * bStrides[i];
            if (ea < 0) aLo += ea; else aHi += ea;
            if (eb < 0) bLo += eb; else bHi += eb;
        }
        return aLo <= bHi && bLo <= aHi;
    }
}
