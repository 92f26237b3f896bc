package dev.graft.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** AdamW against values worked out by hand (same parameter and gradients as {@link SGDTest}). */
class AdamWTest {

    @Test
    void pytorchDefaults() {
        // step 1: p = 1·(1 − 1e-4) = .9999; m = .05, v = .00025; m̂ = .5, v̂ = .25;
        //         p −= .01·.5/(.5 + 1e-8) ⇒ p = .9899000002 (and −1.9898000001 for p[1])
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = SGDTest.param(f64);
            AdamW opt = new AdamW(List.of(p), 0.01);
            SGDTest.check(opt, p, new double[][] {
                    {0.9899000002, -1.9898000001},
                    {0.9817706006384452, -1.9853225342429126},
                    {0.978228886123465, -1.984323411594224}}, f64 ? 1e-12 : 1e-6);
            assertThat(opt.stepCount(p)).isEqualTo(3);
            // m3 = .9·(.9·.05 + .01) − .02 = .0295
            assertThat(opt.expAvg(p).toDoubleArray()[0]).isCloseTo(0.0295, within(1e-7));
        }
    }

    @Test
    void customBetasEpsAndWeightDecay() {
        // step 1: p = .95; m = .1, v = .0025; m̂ = .5, v̂ = .25; p −= .1·.5/(.5 + .001) ⇒ .8501996007984032
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = SGDTest.param(f64);
            SGDTest.check(new AdamW(List.of(p), 0.1, 0.8, 0.99, 1e-3, 0.5), p, new double[][] {
                    {0.8501996007984032, -1.8000999000999},
                    {0.7306826967292372, -1.6724398715467805},
                    {0.668219077098521, -1.5888178779694415}}, f64 ? 1e-12 : 1e-6);
        }
    }

    @Test
    void groupsAndSkipping() {
        Tensor a = SGDTest.param(true), b = SGDTest.param(true), frozen = SGDTest.param(true);
        AdamW opt = new AdamW(List.of(new ParamGroup(List.of(a)).withLr(0.1).withWeightDecay(0.5).with("beta1", 0.8).with("beta2", 0.99).with("eps", 1e-3),
                new ParamGroup(List.of(b, frozen))), AdamW.Options.lr(0.01));
        assertThat(opt.paramGroups().get(1).weightDecay()).isEqualTo(0.01);
        assertThat(opt.paramGroups().get(1).doubleOption("beta2")).isEqualTo(0.999);
        SGDTest.setGrad(a, SGDTest.GRADS[0]);
        SGDTest.setGrad(b, SGDTest.GRADS[0]);
        SGDTest.setGrad(frozen, SGDTest.GRADS[0]);
        frozen.requiresGrad(false);
        opt.step();
        assertThat(a.toDoubleArray()[0]).isCloseTo(0.8501996007984032, within(1e-12));
        assertThat(b.toDoubleArray()[0]).isCloseTo(0.9899000002, within(1e-12));
        assertThat(frozen.toDoubleArray()).containsExactly(1, -2);
        assertThat(opt.stepCount(frozen)).isZero();
    }

    @Test
    void validatesBetas() {
        assertThatThrownBy(() -> new AdamW(List.of(SGDTest.param(true)), 0.1, 1.0, 0.999, 1e-8, 0))
                .isInstanceOf(GraftException.class).hasMessageContaining("beta1");
    }
}
