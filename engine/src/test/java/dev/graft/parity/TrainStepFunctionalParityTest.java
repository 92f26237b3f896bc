package dev.graft.parity;

import dev.graft.autograd.Autograd;
import dev.graft.io.Npy;
import dev.graft.ops.Convolution;
import dev.graft.ops.Elementwise;
import dev.graft.ops.LinearAlgebra;
import dev.graft.ops.Losses;
import dev.graft.ops.Normalization;
import dev.graft.ops.Pooling;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The whole-training-step fixture (two SGD steps of a small CNN, computed by float32 torch) replayed
 * with the functional ops and a hand-written torch.optim.SGD update, independently of dev.graft.nn and
 * dev.graft.optim (see {@link TrainStepParityTest} for the module/optimizer version).
 */
class TrainStepFunctionalParityTest {
    /** Allowed relative error for the training step. */
    static final double TOLERANCE = 1e-4;

    @Test
    void twoSgdStepsOfASmallCnnMatchTorch() {
        Fixtures.Case spec = Fixtures.find("train_step_cnn");
        Map<String, Npy.Array> a = spec.arrays();
        var p = spec.params();
        double lr = p.path("lr").asDouble(), momentum = p.path("momentum").asDouble(), wd = p.path("weight_decay").asDouble();
        double dampening = p.path("dampening").asDouble();
        List<String> keys = List.of("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "5.weight", "5.bias");
        Map<String, Tensor> state = new LinkedHashMap<>();
        for (String k : keys) state.put(k, get(a, "init." + k).toTensor());
        List<String> params = List.of("0.weight", "1.weight", "1.bias", "5.weight", "5.bias");
        for (String k : params) state.get(k).requiresGrad(true);
        Map<String, float[]> buffers = new LinkedHashMap<>();

        int steps = p.path("steps").asInt();
        double worst = 0;
        for (int s = 1; s <= steps; s++) {
            Tensor x = get(a, "step" + s + ".x").toTensor();
            int[] target = get(a, "step" + s + ".target").toIntArray();
            for (String k : params) state.get(k).zeroGrad();
            Tensor h = Convolution.conv2d(x, state.get("0.weight"), null, 1, 1, 1, 1);
            h = Normalization.batchNorm(h, state.get("1.running_mean"), state.get("1.running_var"), state.get("1.weight"),
                    state.get("1.bias"), true, 0.1, 1e-5);
            h = Elementwise.relu(h);
            h = Pooling.maxPool2d(h, 2, 2, 0);
            h = Views.flatten(h, 1, -1);
            h = LinearAlgebra.linear(h, state.get("5.weight"), state.get("5.bias"));
            Tensor loss = Losses.crossEntropy(h, target, 0.0);
            loss.backward();
            worst = Math.max(worst, Compare.check("step " + s + " loss", new double[] {loss.item()}, get(a, "step" + s + ".loss").toDoubleArray(), new int[0], TOLERANCE));
            // torch.optim.SGD: g = grad + wd·p; buf = g (first step) or momentum·buf + (1 − dampening)·g; p −= lr·buf
            try (var _ = Autograd.noGrad()) {
                for (String k : params) {
                    Tensor t = state.get(k);
                    float[] pv = t.toFloatArray(), gv = t.grad().toFloatArray();
                    float[] buf = buffers.get(k);
                    boolean first = buf == null;
                    if (first) buffers.put(k, buf = new float[pv.length]);
                    for (int i = 0; i < pv.length; i++) {
                        float gi = gv[i] + (float) wd * pv[i];
                        buf[i] = first ? gi : (float) momentum * buf[i] + (float) (1 - dampening) * gi;
                        pv[i] -= (float) lr * buf[i];
                    }
                    t.copyFrom(Tensor.of(pv, t.shape()));
                }
            }
            for (String k : keys)
                worst = Math.max(worst, Compare.check("step " + s + " " + k, state.get(k), get(a, "step" + s + ".state." + k), TOLERANCE));
        }
        System.out.println("PARITY train_step_cnn (functional) max relative error " + Compare.fmt(worst));
    }

    static Npy.Array get(Map<String, Npy.Array> a, String key) {
        Npy.Array v = a.get(key);
        if (v == null) throw new AssertionError("train_step_cnn.npz lacks '" + key + "' (has " + a.keySet() + ")");
        return v;
    }
}
