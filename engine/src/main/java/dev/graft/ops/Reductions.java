package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Sums and means over axes, broadcasting's adjoint (sumTo), softmax and log-softmax. */
public final class Reductions {
    private Reductions() {}

    /** Sum of all elements, as a 0-D tensor. */
    public static Tensor sum(Tensor x) {
        int[] all = new int[x.dim()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        return sum(x, all, false);
    }

    /** Sum over the given dimensions (negative allowed); keepDim leaves them with size 1. */
    public static Tensor sum(Tensor x, int[] dims, boolean keepDim) {
        int rank = x.dim();
        int[] inShape = x.shape();
        boolean[] reduced = reducedMask(dims, rank);
        int[] kept = inShape.clone();
        for (int i = 0; i < rank; i++) if (reduced[i]) kept[i] = 1;
        Tensor xc = x.contiguous();
        Tensor out = x.newEmpty(kept);
        int[] outStrides = out.strides();
        for (int i = 0; i < rank; i++) if (reduced[i]) outStrides[i] = 0;
        x.backend().sum(inShape, xc, outStrides, out);
        Tensor result = Autograd.record("Sum", out, new Tensor[] {xc},
                g -> new Tensor[] {Views.expand(g, inShape).contiguous()});
        if (keepDim) return result;
        int[] squeezed = new int[rank - count(reduced)];
        for (int i = 0, j = 0; i < rank; i++) if (!reduced[i]) squeezed[j++] = inShape[i];
        return Views.reshape(result, squeezed);
    }

    public static Tensor mean(Tensor x) {
        return Elementwise.mul(sum(x), 1.0 / Math.max(1, x.numel()));
    }

    public static Tensor mean(Tensor x, int[] dims, boolean keepDim) {
        boolean[] reduced = reducedMask(dims, x.dim());
        long n = 1;
        for (int i = 0; i < reduced.length; i++) if (reduced[i]) n *= x.size(i);
        return Elementwise.mul(sum(x, dims, keepDim), 1.0 / Math.max(1, n));
    }

    /** Sums x down to {@code shape}, undoing a broadcast from shape to x's shape. */
    public static Tensor sumTo(Tensor x, int[] shape) {
        int[] xs = x.shape();
        if (Arrays.equals(xs, shape)) return x;
        int lead = xs.length - shape.length;
        if (lead < 0) throw new GraftException("sumTo: cannot reduce shape " + Arrays.toString(xs) + " to " + Arrays.toString(shape));
        int[] dims = new int[xs.length];
        int n = 0;
        for (int i = 0; i < xs.length; i++) {
            if (i < lead) dims[n++] = i;
            else if (shape[i - lead] == 1 && xs[i] != 1) dims[n++] = i;
            else if (shape[i - lead] != xs[i])
                throw new GraftException("sumTo: cannot reduce shape " + Arrays.toString(xs) + " to " + Arrays.toString(shape));
        }
        return Views.reshape(sum(x, Arrays.copyOf(dims, n), true), shape);
    }

    public static Tensor softmax(Tensor x, int dim) {
        return softmax(x, dim, false);
    }

    public static Tensor logSoftmax(Tensor x, int dim) {
        return softmax(x, dim, true);
    }

    private static Tensor softmax(Tensor x, int dim, boolean log) {
        int[] shape = x.shape();
        int d = Shapes.axis(dim, Math.max(1, shape.length));
        if (shape.length == 0) return softmax(Views.reshape(x, 1), 0, log).reshape();
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= shape[i];
        for (int i = d + 1; i < shape.length; i++) inner *= shape[i];
        int n = shape[d], o = outer, in = inner;
        Tensor xc = x.contiguous();
        Tensor y = x.newEmpty(shape);
        x.backend().softmax(xc, y, outer, n, inner, log);
        return Autograd.record(log ? "LogSoftmax" : "Softmax", y, new Tensor[] {xc}, g -> {
            Tensor gx = y.newEmpty(shape);
            y.backend().softmaxBackward(y, g.contiguous(), gx, o, n, in, log);
            return new Tensor[] {gx};
        });
    }

    private static boolean[] reducedMask(int[] dims, int rank) {
        boolean[] reduced = new boolean[rank];
        for (int d : dims) {
            int a = Shapes.axis(d, rank);
            if (reduced[a]) throw new GraftException("dimension " + d + " repeated in " + Arrays.toString(dims));
            reduced[a] = true;
        }
        return reduced;
    }

    private static int count(boolean[] mask) {
        int n = 0;
        for (boolean b : mask) if (b) n++;
        return n;
    }
}
