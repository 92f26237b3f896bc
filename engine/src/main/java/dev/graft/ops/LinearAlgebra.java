package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Matrix products: {@link #matmul} with torch.matmul's broadcasting rules, and {@link #linear}. */
public final class LinearAlgebra {
    private LinearAlgebra() {}

    /**
     * torch.matmul: 1-D operands are promoted (and the added dimension removed afterwards); leading
     * batch dimensions broadcast.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        Elementwise.checkSameBackend("matmul", a, b);
        if (a.dim() == 0 || b.dim() == 0) throw new GraftException("matmul: both arguments need at least one dimension, got shapes "
                + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()));
        if (a.dim() == 1 && b.dim() == 1) return Views.reshape(matmul(Views.unsqueeze(a, 0), Views.unsqueeze(b, 1)));
        if (a.dim() == 1) return Views.squeeze(matmul(Views.unsqueeze(a, 0), b), -2);
        if (b.dim() == 1) return Views.squeeze(matmul(a, Views.unsqueeze(b, 1)), -1);
        int[] as = a.shape(), bs = b.shape();
        int m = as[as.length - 2], k = as[as.length - 1], n = bs[bs.length - 1];
        if (bs[bs.length - 2] != k)
            throw new GraftException("matmul: shapes " + Arrays.toString(as) + " and " + Arrays.toString(bs) + " cannot be multiplied (" + k + " != " + bs[bs.length - 2] + ")");
        int[] batch = Shapes.broadcast(Arrays.copyOf(as, as.length - 2), Arrays.copyOf(bs, bs.length - 2));
        Tensor ab = batchOperand(a, batch, m, k);
        Tensor bb = batchOperand(b, batch, k, n);
        int batchCount = Shapes.numel(batch);
        int[] outShape = Arrays.copyOf(batch, batch.length + 2);
        outShape[batch.length] = m;
        outShape[batch.length + 1] = n;
        Tensor out = a.newEmpty(outShape);
        a.backend().gemm(false, false, batchCount, m, n, k, 1.0,
                ab, ab.dim() == 2 ? 0 : m * k, bb, bb.dim() == 2 ? 0 : k * n, 0.0, out, m * n);
        return Autograd.record("Matmul", out, new Tensor[] {a, b}, g -> {
            Tensor ga = null, gb = null;
            if (a.requiresGrad()) ga = Reductions.sumTo(matmul(g, Views.transpose(b, -1, -2)), as);
            if (b.requiresGrad()) gb = Reductions.sumTo(matmul(Views.transpose(a, -1, -2), g), bs);
            return new Tensor[] {ga, gb};
        });
    }

    /** The operand as a contiguous (batch..., rows, cols) tensor, or as a plain 2-D matrix when it has no batch dimensions. */
    private static Tensor batchOperand(Tensor t, int[] batch, int rows, int cols) {
        if (t.dim() == 2) return t.contiguous();
        int[] target = Arrays.copyOf(batch, batch.length + 2);
        target[batch.length] = rows;
        target[batch.length + 1] = cols;
        int[] ts = t.shape();
        if (Arrays.equals(ts, target)) return t.contiguous();
        boolean onlyOnes = true; // batch dims all 1: the same matrix for every batch entry
        for (int i = 0; i < ts.length - 2; i++) onlyOnes &= ts[i] == 1;
        if (onlyOnes) return Views.reshape(t, rows, cols);
        return Views.expand(t, target).contiguous();
    }

    /** y = x · weightᵀ + bias, for x (..., in), weight (out, in), bias (out) or null. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        int[] xs = x.shape(), ws = weight.shape();
        if (ws.length != 2 || xs.length == 0 || xs[xs.length - 1] != ws[1])
            throw new GraftException("linear: input " + Arrays.toString(xs) + " does not fit weight " + Arrays.toString(ws));
        if (bias != null && (bias.dim() != 1 || bias.size(0) != ws[0]))
            throw new GraftException("linear: bias " + Arrays.toString(bias.shape()) + " does not fit weight " + Arrays.toString(ws));
        Elementwise.checkSameBackend("linear", x, weight);
        int in = ws[1], outF = ws[0];
        int rows = x.numel() / in;
        Tensor x2 = x.contiguous();
        Tensor w = weight.contiguous();
        int[] outShape = xs.clone();
        outShape[outShape.length - 1] = outF;
        Tensor y = x.newZeros(outShape);
        double beta = 0;
        if (bias != null) {
            // Broadcast the bias into every row, then accumulate the product on top (beta = 1).
            Tensor bc = bias.contiguous();
            y.backend().copy(new int[] {rows, outF}, bc.storage(), bc.offset(), new int[] {0, 1}, y.storage(), 0, new int[] {outF, 1});
            beta = 1;
        }
        x.backend().gemm(false, true, 1, rows, outF, in, 1.0, x2, 0, w, 0, beta, y, 0);
        return Autograd.record("Linear", y, new Tensor[] {x2, w, bias}, g -> {
            Tensor gc = g.contiguous();
            Tensor gx = null, gw = null, gb = null;
            if (x2.requiresGrad()) {
                gx = x2.newEmpty(xs);
                gx.backend().gemm(false, false, 1, rows, in, outF, 1.0, gc, 0, w, 0, 0.0, gx, 0);
            }
            if (w.requiresGrad()) {
                gw = w.newEmpty(ws);
                gw.backend().gemm(true, false, 1, outF, in, rows, 1.0, gc, 0, x2, 0, 0.0, gw, 0);
            }
            if (bias != null && bias.requiresGrad()) gb = Reductions.sumTo(gc, bias.shape());
            return new Tensor[] {gx, gw, gb};
        });
    }
}
