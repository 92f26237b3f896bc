package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * Shape ops: views that share storage (reshape of contiguous data, permute, slice, unsqueeze,
 * expand) and the copy that makes a tensor contiguous. All differentiable.
 */
public final class Views {
    private Views() {}

    /** A fresh contiguous copy of x. */
    public static Tensor copy(Tensor x) {
        int[] shape = x.shape();
        Tensor out = x.newEmpty(shape);
        x.backend().copy(shape, x.storage(), x.offset(), x.strides(), out.storage(), 0, out.strides());
        return Autograd.record("Copy", out, new Tensor[] {x}, g -> new Tensor[] {g});
    }

    /** x with a new shape of the same element count; one dimension may be -1. Copies only if x is not contiguous. */
    public static Tensor reshape(Tensor x, int... newShape) {
        int[] shape = inferShape(x, newShape);
        if (Arrays.equals(shape, x.shape())) return x;
        Tensor src = x.contiguous();
        Tensor out = new Tensor(src.storage(), shape, Shapes.contiguousStrides(shape), src.offset());
        int[] inShape = x.shape();
        return Autograd.record("Reshape", out, new Tensor[] {src}, g -> new Tensor[] {reshape(g, inShape)});
    }

    private static int[] inferShape(Tensor x, int[] newShape) {
        int[] shape = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (infer >= 0) throw new GraftException("reshape: only one dimension may be -1 in " + Arrays.toString(newShape));
                infer = i;
            } else if (shape[i] < 0) {
                throw new GraftException("reshape: invalid dimension in " + Arrays.toString(newShape));
            } else {
                known *= shape[i];
            }
        }
        int n = x.numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0)
                throw new GraftException("cannot reshape tensor of shape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(newShape));
            shape[infer] = (int) (n / known);
        } else if (known != n) {
            throw new GraftException("cannot reshape tensor of shape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(newShape));
        }
        return shape;
    }

    /** Reorders dimensions: output dimension i is input dimension order[i]. */
    public static Tensor permute(Tensor x, int... order) {
        int rank = x.dim();
        if (order.length != rank) throw new GraftException("permute: order " + Arrays.toString(order) + " for a " + rank + "-D tensor");
        int[] shape = x.shape(), strides = x.strides();
        int[] ns = new int[rank], nst = new int[rank], inverse = new int[rank];
        boolean[] used = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            int a = Shapes.axis(order[i], rank);
            if (used[a]) throw new GraftException("permute: repeated dimension in " + Arrays.toString(order));
            used[a] = true;
            ns[i] = shape[a];
            nst[i] = strides[a];
            inverse[a] = i;
        }
        Tensor out = new Tensor(x.storage(), ns, nst, x.offset());
        return Autograd.record("Permute", out, new Tensor[] {x}, g -> new Tensor[] {permute(g, inverse)});
    }

    public static Tensor transpose(Tensor x, int d0, int d1) {
        int rank = x.dim();
        int[] order = new int[rank];
        for (int i = 0; i < rank; i++) order[i] = i;
        int a = Shapes.axis(d0, rank), b = Shapes.axis(d1, rank);
        order[a] = b;
        order[b] = a;
        return permute(x, order);
    }

    /** Elements start ≤ i < end along dim, as a view. */
    public static Tensor slice(Tensor x, int dim, int start, int end) {
        int d = Shapes.axis(dim, x.dim());
        int[] shape = x.shape(), strides = x.strides();
        if (start < 0 || end > shape[d] || start > end)
            throw new GraftException("slice [" + start + ", " + end + ") out of range for dimension " + d + " of shape " + Arrays.toString(shape));
        int[] inShape = shape.clone();
        shape[d] = end - start;
        Tensor out = new Tensor(x.storage(), shape, strides, x.offset() + start * strides[d]);
        return Autograd.record("Slice", out, new Tensor[] {x}, g -> {
            Tensor gx = g.newZeros(inShape);
            slice(gx, d, start, end).copyFrom(g);
            return new Tensor[] {gx};
        });
    }

    public static Tensor unsqueeze(Tensor x, int dim) {
        int rank = x.dim() + 1;
        int d = Shapes.axis(dim, rank);
        int[] shape = x.shape(), strides = x.strides();
        int[] ns = new int[rank], nst = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) {
            if (i == d) {
                ns[i] = 1;
                nst[i] = j < shape.length ? strides[j] * shape[j] : 1;
            } else {
                ns[i] = shape[j];
                nst[i] = strides[j];
                j++;
            }
        }
        Tensor out = new Tensor(x.storage(), ns, nst, x.offset());
        int[] inShape = x.shape();
        return Autograd.record("Unsqueeze", out, new Tensor[] {x}, g -> new Tensor[] {reshape(g, inShape)});
    }

    /** Removes dimension dim, which must have size 1. */
    public static Tensor squeeze(Tensor x, int dim) {
        int d = Shapes.axis(dim, x.dim());
        int[] shape = x.shape(), strides = x.strides();
        if (shape[d] != 1) throw new GraftException("squeeze: dimension " + d + " of shape " + Arrays.toString(shape) + " is not 1");
        int[] ns = new int[shape.length - 1], nst = new int[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i == d) continue;
            ns[j] = shape[i];
            nst[j++] = strides[i];
        }
        Tensor out = new Tensor(x.storage(), ns, nst, x.offset());
        int[] inShape = x.shape();
        return Autograd.record("Squeeze", out, new Tensor[] {x}, g -> new Tensor[] {reshape(g, inShape)});
    }

    /** Merges dimensions startDim..endDim (inclusive) into one, like torch.flatten. */
    public static Tensor flatten(Tensor x, int startDim, int endDim) {
        if (x.dim() == 0) return reshape(x, 1);
        int s = Shapes.axis(startDim, x.dim()), e = Shapes.axis(endDim, x.dim());
        if (s > e) throw new GraftException("flatten: start dimension " + startDim + " after end dimension " + endDim);
        int[] shape = x.shape();
        int[] ns = new int[shape.length - (e - s)];
        int k = 0;
        for (int i = 0; i < s; i++) ns[k++] = shape[i];
        int merged = 1;
        for (int i = s; i <= e; i++) merged *= shape[i];
        ns[k++] = merged;
        for (int i = e + 1; i < shape.length; i++) ns[k++] = shape[i];
        return reshape(x, ns);
    }

    /** A broadcast view of x with the given shape (size-1 and missing leading dimensions repeat, stride 0). */
    public static Tensor expand(Tensor x, int... newShape) {
        int[] strides = Shapes.broadcastStrides(x.shape(), x.strides(), newShape);
        Tensor out = new Tensor(x.storage(), newShape, strides, x.offset());
        int[] inShape = x.shape();
        return Autograd.record("Expand", out, new Tensor[] {x}, g -> new Tensor[] {Reductions.sumTo(g, inShape)});
    }

    /**
     * torch.nn.functional.pad(x, (left, right, top, bottom)) with zeros over the last two dimensions
     * (NCHW height and width): TensorFlow's asymmetric SAME padding needs it.
     */
    public static Tensor pad2d(Tensor x, int top, int bottom, int left, int right) {
        if (x.dim() < 2 || top < 0 || bottom < 0 || left < 0 || right < 0)
            throw new GraftException("pad2d: cannot pad shape " + Arrays.toString(x.shape()) + " by top " + top + ", bottom " + bottom
                    + ", left " + left + ", right " + right);
        int h = x.dim() - 2, w = x.dim() - 1;
        int[] shape = x.shape();
        int[] padded = shape.clone();
        padded[h] += top + bottom;
        padded[w] += left + right;
        Tensor out = x.newZeros(padded);
        try (var _ = Autograd.noGrad()) {
            slice(slice(out, h, top, top + shape[h]), w, left, left + shape[w]).copyFrom(x);
        }
        return Autograd.record("Pad2d", out, new Tensor[] {x}, g -> new Tensor[] {
                slice(slice(g, h, top, top + shape[h]), w, left, left + shape[w]).contiguous()});
    }
}
