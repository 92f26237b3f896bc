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
}
