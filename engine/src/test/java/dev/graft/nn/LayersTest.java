package dev.graft.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LayersTest {

    private static Tensor randn(long seed, int... shape) {
        return Tensor.randn(new SplittableRandom(seed), shape);
    }

    @Test
    void dropoutIsActiveOnlyInTrainingMode() {
        Dropout d = new Dropout(0.5, 42);
        Tensor x = Tensor.ones(1000);
        float[] y = d.train().forward(x).toFloatArray();
        int zeros = 0;
        for (float v : y) {
            assertThat(v).isIn(0f, 2f);
            if (v == 0) zeros++;
        }
        assertThat(zeros).isBetween(400, 600);
        assertThat(d.eval().forward(x)).isSameAs(x);
        // Seeded: the same seed gives the same mask.
        assertThat(new Dropout(0.5, 42).forward(x).toFloatArray()).containsExactly(y);
        assertThat(new Dropout(0.5, 43).forward(x).toFloatArray()).isNotEqualTo(y);
    }

    @Test
    void trainAndEvalPropagateThroughTheTree() {
        Sequential net = new Sequential(new Sequential(new BatchNorm2d(2), new Dropout(0.3)), new ReLU());
        assertThat(net.isTraining()).isTrue();
        net.eval();
        net.namedModules().values().forEach(m -> assertThat(m.isTraining()).isFalse());
        net.module("0").train();
        assertThat(net.module("0.1").isTraining()).isTrue();
        assertThat(net.isTraining()).isFalse();
        net.train(true);
        net.namedModules().values().forEach(m -> assertThat(m.isTraining()).isTrue());
    }

    @Test
    void batchNormUsesBatchStatisticsInTrainingAndRunningOnesInEval() {
        BatchNorm2d bn = new BatchNorm2d(2, 1e-5, 0.1);
        Tensor x = randn(1, 4, 2, 3, 3).mul(3.0).add(1.0);
        // Training: each channel of the output has mean 0 and (biased) variance 1.
        Tensor y = bn.train().forward(x);
        double[] mean = y.mean(new int[] {0, 2, 3}, false).toDoubleArray();
        double[] sq = y.mul(y).mean(new int[] {0, 2, 3}, false).toDoubleArray();
        for (int c = 0; c < 2; c++) {
            assertThat(mean[c]).isCloseTo(0, within(1e-5));
            assertThat(sq[c]).isCloseTo(1, within(1e-3));
        }
        // Running stats moved 10% of the way to the batch statistics (unbiased variance).
        double[] bm = x.mean(new int[] {0, 2, 3}, false).toDoubleArray();
        float[] rm = bn.runningMean().toFloatArray(), rv = bn.runningVar().toFloatArray();
        Tensor centered = x.sub(x.mean(new int[] {0, 2, 3}, true));
        double[] unbiased = centered.mul(centered).sum(new int[] {0, 2, 3}, false).mul(1.0 / 35).toDoubleArray();
        for (int c = 0; c < 2; c++) {
            assertThat((double) rm[c]).isCloseTo(0.1 * bm[c], within(1e-5));
            assertThat((double) rv[c]).isCloseTo(0.9 + 0.1 * unbiased[c], within(1e-4));
        }
        // Eval: (x − running_mean) / sqrt(running_var + eps), stats untouched.
        float[] out = bn.eval().forward(x).toFloatArray();
        float[] xs = x.toFloatArray();
        for (int i = 0; i < xs.length; i++) {
            int c = (i / 9) % 2;
            assertThat((double) out[i]).isCloseTo((xs[i] - rm[c]) / Math.sqrt(rv[c] + 1e-5), within(1e-4));
        }
        assertThat(bn.runningMean().toFloatArray()).containsExactly(rm);
        assertThatThrownBy(() -> bn.forward(randn(1, 2, 2))).isInstanceOf(GraftException.class).hasMessageContaining("4D");
    }

    @Test
    void linearComputesXWtPlusB() {
        Linear l = new Linear(3, 2, true);
        l.loadStateDict(java.util.Map.of("weight", Tensor.of(new float[] {1, 2, 3, -1, 0, 1}, 2, 3),
                "bias", Tensor.of(new float[] {0.5f, -0.5f}, 2)));
        Tensor y = l.forward(Tensor.of(new float[] {1, 1, 1, 2, 0, -1}, 2, 3));
        assertThat(y.toFloatArray()).containsExactly(6.5f, -0.5f, -0.5f, -3.5f);
        assertThat(new Linear(3, 2, false).stateDict().keySet()).containsExactly("weight");
    }

    @Test
    void convAndPoolingShapes() {
        Tensor x = randn(2, 2, 3, 17, 17);
        assertThat(new Conv2d(3, 8, 3, 2, 1, true).forward(x).shape()).containsExactly(2, 8, 9, 9);
        assertThat(new Conv2d(3, 6, 3, 1, 2, 2, 3, false).forward(x).shape()).containsExactly(2, 6, 17, 17);
        assertThat(new Conv2d(3, 4, new int[] {1, 3}, new int[] {1, 1}, new int[] {0, 1}, new int[] {1, 1}, 1, false)
                .forward(x).shape()).containsExactly(2, 4, 17, 17);
        assertThat(new MaxPool2d(3, 2, 1).forward(x).shape()).containsExactly(2, 3, 9, 9);
        assertThat(new MaxPool2d(3, 2, 0, 1, true).forward(x).shape()).containsExactly(2, 3, 8, 8);
        assertThat(new AvgPool2d(2).forward(x).shape()).containsExactly(2, 3, 8, 8);
        assertThat(new AdaptiveAvgPool2d(1).forward(x).shape()).containsExactly(2, 3, 1, 1);
        assertThat(new Flatten().forward(new AdaptiveAvgPool2d(2, 3).forward(x)).shape()).containsExactly(2, 18);
        assertThat(new Identity().forward(x)).isSameAs(x);
        assertThatThrownBy(() -> new Conv2d(3, 8, 3, 1, 1, 1, 2, true)).isInstanceOf(GraftException.class).hasMessageContaining("groups 2");
    }

    @Test
    void activations() {
        Tensor x = Tensor.of(new float[] {-4, -1, 0, 2, 7}, 5);
        assertThat(new ReLU().forward(x).toFloatArray()).containsExactly(0, 0, 0, 2, 7);
        assertThat(new ReLU6().forward(x).toFloatArray()).containsExactly(0, 0, 0, 2, 6);
        float[] hs = new Hardswish().forward(x).toFloatArray();
        float[] hsig = new Hardsigmoid().forward(x).toFloatArray();
        float[] silu = new SiLU().forward(x).toFloatArray();
        float[] sig = new Sigmoid().forward(x).toFloatArray();
        float[] xv = x.toFloatArray();
        for (int i = 0; i < xv.length; i++) {
            double r6 = Math.min(Math.max(xv[i] + 3, 0), 6);
            double s = 1 / (1 + Math.exp(-xv[i]));
            assertThat((double) hs[i]).isCloseTo(xv[i] * r6 / 6, within(1e-6));
            assertThat((double) hsig[i]).isCloseTo(r6 / 6, within(1e-6));
            assertThat((double) silu[i]).isCloseTo(xv[i] * s, within(1e-5));
            assertThat((double) sig[i]).isCloseTo(s, within(1e-6));
        }
    }

    @Test
    void sequentialContainer() {
        Sequential s = new Sequential(new ReLU());
        s.add(new Identity()).add("head", new Linear(2, 2, true));
        assertThat(s.size()).isEqualTo(3);
        assertThat(s.get(1)).isInstanceOf(Identity.class);
        assertThat(s.namedChildren().keySet()).containsExactly("0", "1", "head");
        s.set(2, new Linear(2, 5, false));
        assertThat(s.stateDict().keySet()).containsExactly("head.weight");
        assertThat(s.forward(Tensor.ones(3, 2)).shape()).containsExactly(3, 5);
        assertThatThrownBy(() -> s.get(3)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void gradientsReachParametersThroughLayers() {
        Sequential net = new Sequential(new Conv2d(2, 3, 3, 1, 1, true), new BatchNorm2d(3), new ReLU6(),
                new MaxPool2d(2), new Flatten(), new Linear(3 * 2 * 2, 2, true));
        net.forward(randn(4, 2, 2, 4, 4)).sum().backward();
        net.namedParameters().forEach((k, p) -> {
            assertThat(p.grad()).as(k).isNotNull();
            assertThat(p.grad().shape()).as(k).containsExactly(p.shape());
        });
        net.namedBuffers().values().forEach(b -> assertThat(b.grad()).isNull());
    }
}
