package dev.graft.nn;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.ops.Losses;
import dev.graft.optim.SGD;
import dev.graft.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FreezeTest {

    /** backbone (conv, bn, relu, pool, flatten) + head (linear), as a transfer-learning model. */
    static final class Net extends Module {
        final Sequential backbone;
        final Linear head;

        Net() {
            backbone = register("backbone", new Sequential(new Conv2d(3, 4, 3, 1, 1, false), new BatchNorm2d(4), new ReLU(),
                    new AdaptiveAvgPool2d(1), new Flatten()));
            head = register("head", new Linear(4, 3, true));
        }

        @Override
        public Tensor forward(Tensor x) {
            return head.forward(backbone.forward(x));
        }

        BatchNorm2d bn() {
            return (BatchNorm2d) backbone.get(1);
        }
    }

    private Net net;
    private final Tensor x = Tensor.randn(new SplittableRandom(11), 4, 3, 6, 6).mul(2.0).add(0.5);
    private final int[] targets = {0, 2, 1, 2};

    @BeforeEach
    void setUp() {
        Init.manualSeed(3);
        net = new Net();
    }

    private void trainStep(SGD opt) {
        opt.zeroGrad();
        Losses.crossEntropy(net.forward(x), targets).backward();
        opt.step();
    }

    private static Map<String, float[]> snapshot(Module m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.stateDict().forEach((k, v) -> out.put(k, v.toFloatArray()));
        return out;
    }

    @Test
    void frozenBackboneGetsNoGradientNoUpdateAndKeepsItsStatistics() {
        net.train();
        net.backbone.freeze();
        assertThat(net.backbone.isFrozen()).isTrue();
        assertThat(net.bn().isFrozen()).isTrue();
        assertThat(net.head.isFrozen()).isFalse();
        assertThat(net.trainableParameters()).containsExactly(net.head.weight(), net.head.bias());
        assertThat(net.numTrainableParameters()).isEqualTo(4 * 3 + 3);

        Map<String, float[]> before = snapshot(net.backbone);
        float[] headBefore = net.head.weight().toFloatArray();
        SGD opt = new SGD(net.parameters(), 0.5, 0.9, 0.01); // all parameters: the optimizer must skip the frozen ones
        opt.zeroGrad();
        Losses.crossEntropy(net.forward(x), targets).backward();
        for (Tensor p : net.backbone.parameters()) assertThat(p.grad()).isNull();
        assertThat(net.head.weight().grad()).isNotNull();
        opt.step();
        trainStep(opt);

        Map<String, float[]> after = snapshot(net.backbone);
        before.forEach((k, v) -> assertThat(after.get(k)).as(k).containsExactly(v)); // bit-identical, stats included
        assertThat(net.head.weight().toFloatArray()).isNotEqualTo(headBefore);
        assertThat(net.isTraining()).isTrue();
    }

    @Test
    void frozenBatchNormInTrainingModeComputesItsEvalOutput() {
        BatchNorm2d bn = net.bn();
        // Give the running statistics non-trivial values first.
        net.train().forward(x);
        float[] mean = bn.runningMean().toFloatArray(), var = bn.runningVar().toFloatArray();
        assertThat(mean).isNotEqualTo(new float[4]);
        Tensor in = Tensor.randn(new SplittableRandom(5), 2, 4, 3, 3);

        bn.eval();
        float[] evalOut = bn.forward(in).toFloatArray();
        bn.train();
        float[] trainOut = bn.forward(in).toFloatArray();
        assertThat(trainOut).isNotEqualTo(evalOut);
        bn.loadStateDict(Map.of("weight", bn.weight(), "bias", bn.bias(),
                "running_mean", Tensor.of(mean, 4), "running_var", Tensor.of(var, 4)), true); // undo that update

        bn.freeze();
        assertThat(bn.isTraining()).isTrue();
        assertThat(bn.statsFrozen()).isTrue();
        assertThat(bn.forward(in).toFloatArray()).containsExactly(evalOut);
        assertThat(bn.runningMean().toFloatArray()).containsExactly(mean);
        assertThat(bn.runningVar().toFloatArray()).containsExactly(var);
    }

    @Test
    void unfreezeRestoresTrainingBehaviour() {
        net.train();
        net.backbone.freeze();
        SGD opt = new SGD(net.parameters(), 0.1);
        trainStep(opt);
        net.backbone.unfreeze();
        assertThat(net.backbone.isFrozen()).isFalse();
        assertThat(net.bn().statsFrozen()).isFalse();
        assertThat(net.trainableParameters()).hasSize(net.parameters().size());

        Map<String, float[]> before = snapshot(net.backbone);
        opt.zeroGrad();
        Losses.crossEntropy(net.forward(x), targets).backward();
        for (Tensor p : net.backbone.parameters()) assertThat(p.grad()).isNotNull();
        opt.step();
        Map<String, float[]> after = snapshot(net.backbone);
        before.forEach((k, v) -> assertThat(after.get(k)).as(k).isNotEqualTo(v)); // weights and stats all moved
    }

    @Test
    void batchNormInferenceKeepsStatisticsFixedWhileParametersTrain() {
        net.train();
        net.setBatchNormInference(true);
        assertThat(net.bn().isBatchNormInference()).isTrue();
        BatchNorm2d bn = net.bn();
        float[] mean = bn.runningMean().toFloatArray(), var = bn.runningVar().toFloatArray();
        float[] gamma = bn.weight().toFloatArray(), conv = net.backbone.get(0).stateDict().get("weight").toFloatArray();

        SGD opt = new SGD(net.parameters(), 0.5);
        trainStep(opt);
        assertThat(bn.weight().grad()).isNotNull();
        assertThat(bn.weight().toFloatArray()).isNotEqualTo(gamma);
        assertThat(net.backbone.get(0).stateDict().get("weight").toFloatArray()).isNotEqualTo(conv);
        assertThat(bn.runningMean().toFloatArray()).containsExactly(mean);
        assertThat(bn.runningVar().toFloatArray()).containsExactly(var);

        // Its output is the evaluation-mode output.
        Tensor in = Tensor.randn(new SplittableRandom(9), 2, 4, 3, 3);
        float[] frozenOut = bn.forward(in).toFloatArray();
        assertThat(frozenOut).containsExactly(bn.eval().forward(in).toFloatArray());

        // Unfreezing parameters does not undo it; switching it off does.
        net.train();
        net.unfreeze();
        assertThat(bn.statsFrozen()).isTrue();
        net.setBatchNormInference(false);
        net.forward(x);
        assertThat(bn.runningMean().toFloatArray()).isNotEqualTo(mean);
    }

    @Test
    void parametersRegisteredInAFrozenModuleStartFrozen() {
        Module m = new Module() {
            { freeze(); parameter("w", Tensor.zeros(2)); }
            @Override
            public Tensor forward(Tensor x) { return x; }
        };
        assertThat(m.getParameter("w").requiresGrad()).isFalse();
        m.unfreeze();
        assertThat(m.getParameter("w").requiresGrad()).isTrue();
    }
}
