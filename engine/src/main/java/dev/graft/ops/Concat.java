package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/** Joins tensors along an existing dimension, as torch.cat. */
public final class Concat {
    private Concat() {}

    public static Tensor concat(List<Tensor> parts, int dim) {
        if (parts.isEmpty()) throw new GraftException("concat of no tensors");
        Tensor first = parts.getFirst();
        int rank = first.dim();
        int d = Shapes.axis(dim, rank);
        int[] shape = first.shape();
        int total = 0;
        for (Tensor t : parts) {
            Elementwise.checkSameBackend("concat", first, t);
            int[] s = t.shape();
            boolean fits = s.length == rank;
            for (int i = 0; fits && i < rank; i++) fits = i == d || s[i] == shape[i];
            if (!fits) throw new GraftException("concat along dimension " + d + ": shape " + Arrays.toString(s) + " does not fit " + Arrays.toString(shape));
            total += s[d];
        }
        shape[d] = total;
        Tensor out = first.newEmpty(shape);
        int[] starts = new int[parts.size()];
        int at = 0;
        for (int i = 0; i < parts.size(); i++) {
            Tensor t = parts.get(i);
            starts[i] = at;
            Views.slice(out.detach(), d, at, at + t.size(d)).copyFrom(t);
            at += t.size(d);
        }
        Tensor[] inputs = parts.toArray(new Tensor[0]);
        return Autograd.record("Concat", out, inputs, g -> {
            Tensor[] grads = new Tensor[inputs.length];
            for (int i = 0; i < inputs.length; i++)
                if (inputs[i].requiresGrad()) grads[i] = Views.slice(g, d, starts[i], starts[i] + inputs[i].size(d)).contiguous();
            return grads;
        });
    }
}
