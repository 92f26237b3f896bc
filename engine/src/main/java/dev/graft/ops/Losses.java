package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Classification losses. */
public final class Losses {
    private Losses() {}

    /**
     * torch.nn.functional.cross_entropy with mean reduction over the batch: logits (N, C), targets
     * class indices in [0, C). With label smoothing ε the target distribution is
     * (1 − ε)·onehot + ε / C.
     */
    public static Tensor crossEntropy(Tensor logits, int[] targets, double labelSmoothing) {
        int[] ls = logits.shape();
        if (ls.length != 2) throw new GraftException("cross_entropy expects (N, C) logits, got shape " + Arrays.toString(ls));
        int n = ls[0], c = ls[1];
        if (targets.length != n) throw new GraftException("cross_entropy: " + targets.length + " targets for " + n + " rows of logits");
        if (labelSmoothing < 0 || labelSmoothing > 1) throw new GraftException("cross_entropy: label smoothing " + labelSmoothing + " outside [0, 1]");
        double[] q = new double[n * c];
        double off = labelSmoothing / c;
        for (int i = 0; i < n; i++) {
            int t = targets[i];
            if (t < 0 || t >= c) throw new GraftException("cross_entropy: target " + t + " at row " + i + " is outside [0, " + c + ")");
            for (int j = 0; j < c; j++) q[i * c + j] = off;
            q[i * c + t] += 1 - labelSmoothing;
        }
        Tensor dist = Tensor.of(q, n, c).to(logits.backend());
        Tensor logp = Reductions.logSoftmax(logits, 1);
        return Elementwise.mul(Reductions.sum(Elementwise.mul(dist, logp)), -1.0 / n);
    }

    public static Tensor crossEntropy(Tensor logits, int[] targets) {
        return crossEntropy(logits, targets, 0.0);
    }
}
