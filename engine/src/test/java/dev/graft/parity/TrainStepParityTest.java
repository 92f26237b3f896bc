package dev.graft.parity;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.io.Npy;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Flatten;
import dev.graft.nn.Linear;
import dev.graft.nn.MaxPool2d;
import dev.graft.nn.ReLU;
import dev.graft.nn.Sequential;
import dev.graft.ops.Losses;
import dev.graft.optim.SGD;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The whole-training-step fixture: {@code conv(3→8, 3x3, pad 1, no bias) → BatchNorm2d(8) → ReLU →
 * MaxPool2d(2) → Flatten → Linear(128 → 5)}, cross entropy, SGD(lr 0.1, momentum 0.9, weight decay
 * 1e-4), two steps in training mode, computed by float32 torch. Graft's modules and optimizer start from
 * the same state dict and must reproduce each step's loss and the full state dict after it (running
 * statistics included) within {@link TrainStepFunctionalParityTest#TOLERANCE}.
 */
class TrainStepParityTest {

    @Test
    void twoSgdStepsWithModulesAndOptimizerMatchTorch() {
        Fixtures.Case spec = Fixtures.find("train_step_cnn");
        Map<String, Npy.Array> a = spec.arrays();
        JsonNode p = spec.params();
        Sequential model = new Sequential(
                new Conv2d(3, 8, 3, 1, 1, false),
                new BatchNorm2d(8),
                new ReLU(),
                new MaxPool2d(2, 2, 0),
                new Flatten(),
                new Linear(8 * 4 * 4, 5, true));
        List<String> keys = new ArrayList<>();
        p.path("state_keys").forEach(k -> keys.add(k.asText()));
        assertThat(model.stateDict().keySet()).as("state dict keys (num_batches_tracked dropped)").containsExactlyElementsOf(keys);

        Map<String, Tensor> init = new LinkedHashMap<>();
        for (String k : keys) init.put(k, TrainStepFunctionalParityTest.get(a, "init." + k).toTensor());
        model.loadStateDict(init, true);
        model.train();
        SGD opt = new SGD(model.parameters(), p.path("lr").asDouble(), p.path("momentum").asDouble(),
                p.path("dampening").asDouble(), p.path("weight_decay").asDouble(), p.path("nesterov").asBoolean());

        double tol = TrainStepFunctionalParityTest.TOLERANCE;
        double worst = 0;
        for (int s = 1; s <= p.path("steps").asInt(); s++) {
            Tensor x = TrainStepFunctionalParityTest.get(a, "step" + s + ".x").toTensor();
            int[] target = TrainStepFunctionalParityTest.get(a, "step" + s + ".target").toIntArray();
            opt.zeroGrad();
            Tensor loss = Losses.crossEntropy(model.forward(x), target);
            loss.backward();
            opt.step();
            worst = Math.max(worst, Compare.check("step " + s + " loss", new double[] {loss.item()},
                    TrainStepFunctionalParityTest.get(a, "step" + s + ".loss").toDoubleArray(), new int[0], tol));
            Map<String, Tensor> state = model.stateDict();
            for (String k : keys)
                worst = Math.max(worst, Compare.check("step " + s + " " + k, state.get(k), TrainStepFunctionalParityTest.get(a, "step" + s + ".state." + k), tol));
        }
        System.out.println("PARITY train_step_cnn (nn+optim) max relative error " + Compare.fmt(worst));
    }
}
