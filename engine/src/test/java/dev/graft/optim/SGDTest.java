package dev.graft.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * SGD against values worked out by hand from PyTorch's update rule, for p = (1, −2) and gradients
 * (0.5, −1), (0.1, 0.3), (−0.2, 0.4) at steps 1, 2, 3.
 */
class SGDTest {
    static final double[][] GRADS = {{0.5, -1}, {0.1, 0.3}, {-0.2, 0.4}};

    /** A float64 parameter (exact arithmetic) or a float32 one (the CPU backend's kernel). */
    static Tensor param(boolean float64) {
        return (float64 ? Tensor.of(new double[] {1, -2}, 2) : Tensor.of(new float[] {1, -2}, 2)).requiresGrad(true);
    }

    static void setGrad(Tensor p, double[] g) {
        p.setGrad(Tensor.of(g, 2).to(p.backend()));
    }

    /** Runs three steps and checks the parameter after each. */
    static void check(Optimizer opt, Tensor p, double[][] expected, double tol) {
        for (int s = 0; s < 3; s++) {
            setGrad(p, GRADS[s]);
            opt.step();
            double[] v = p.toDoubleArray();
            assertThat(v[0]).as("step %d, p[0]", s + 1).isCloseTo(expected[s][0], within(tol));
            assertThat(v[1]).as("step %d, p[1]", s + 1).isCloseTo(expected[s][1], within(tol));
        }
    }

    @Test
    void plain() {
        // p −= 0.1·g
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = param(f64);
            check(new SGD(List.of(p), 0.1), p, new double[][] {{0.95, -1.9}, {0.94, -1.93}, {0.96, -1.97}}, f64 ? 1e-12 : 1e-6);
        }
    }

    @Test
    void momentum() {
        // buf1 = g1 = (.5, −1): p = (.95, −1.9); buf2 = .9·buf1 + g2 = (.55, −.6): p = (.895, −1.84);
        // buf3 = .9·buf2 + g3 = (.295, −.14): p = (.8655, −1.826)
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = param(f64);
            SGD opt = new SGD(List.of(p), 0.1, 0.9, 0, 0, false);
            check(opt, p, new double[][] {{0.95, -1.9}, {0.895, -1.84}, {0.8655, -1.826}}, f64 ? 1e-12 : 1e-6);
            assertThat(opt.momentumBuffer(p).toDoubleArray()[0]).isCloseTo(0.295, within(1e-6));
        }
    }

    @Test
    void momentumWithDampeningAndWeightDecay() {
        // step 1: g = (.5 + .1·1, −1 + .1·−2) = (.6, −1.2) = buf (no dampening on the first step): p = (.94, −1.88)
        // step 2: g = (.1 + .094, .3 − .188) = (.194, .112); buf = .9·buf + .5·g = (.637, −1.024): p = (.8763, −1.7776)
        // step 3: g = (−.2 + .08763, .4 − .17776) = (−.11237, .22224); buf = (.5171150, −.8104800): p = (.8245885, −1.696552)
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = param(f64);
            check(new SGD(List.of(p), 0.1, 0.9, 0.5, 0.1, false), p,
                    new double[][] {{0.94, -1.88}, {0.8763, -1.7776}, {0.8245885, -1.696552}}, f64 ? 1e-12 : 1e-6);
        }
    }

    @Test
    void nesterov() {
        // step 1: g = (.51, −1.02) = buf; g + .9·buf = (.969, −1.938): p = (.9031, −1.8062)
        // step 2: g = (.1 + .009031, .3 − .018062) = (.109031, .281938); buf = (.568031, −.636062);
        //         g + .9·buf = (.6202589, −.2905178): p = (.84107411, −1.77714822)
        for (boolean f64 : new boolean[] {true, false}) {
            Tensor p = param(f64);
            check(new SGD(List.of(p), 0.1, 0.9, 0, 0.01, true), p,
                    new double[][] {{0.9031, -1.8062}, {0.84107411, -1.77714822}, {0.831465558191, -1.798250616382}},
                    f64 ? 1e-12 : 1e-6);
        }
    }

    @Test
    void paramGroupsHaveTheirOwnLearningRatesAndOptions() {
        Tensor a = param(true), b = param(true);
        SGD opt = new SGD(List.of(new ParamGroup(List.of(a)).withLr(0.01),
                new ParamGroup(List.of(b)).with("momentum", 0.9)), SGD.Options.lr(0.1));
        assertThat(opt.paramGroups().get(0).lr()).isEqualTo(0.01);
        assertThat(opt.paramGroups().get(0).doubleOption("momentum")).isEqualTo(0.0);
        assertThat(opt.paramGroups().get(1).lr()).isEqualTo(0.1);
        for (int s = 0; s < 2; s++) {
            setGrad(a, GRADS[s]);
            setGrad(b, GRADS[s]);
            opt.step();
        }
        assertThat(a.toDoubleArray()).containsExactly(new double[] {1 - 0.01 * 0.6, -2 - 0.01 * -0.7}, within(1e-12));
        assertThat(b.toDoubleArray()).containsExactly(new double[] {0.895, -1.84}, within(1e-12));
        assertThat(opt.momentumBuffer(a)).isNull();

        opt.setLr(1, 1.0);
        assertThat(opt.paramGroups().get(1).lr()).isEqualTo(1.0);
        assertThat(opt.paramGroups().get(1).initialLr()).isEqualTo(0.1);
        opt.setLr(0.5);
        assertThat(opt.paramGroups()).allMatch(g -> g.lr() == 0.5);
    }

    @Test
    void skipsFrozenParametersAndParametersWithoutGradient() {
        Tensor frozen = param(false), noGrad = param(false), live = param(false);
        SGD opt = new SGD(List.of(frozen, noGrad, live), 0.1, 0.9, 0.5); // weight decay would move them all
        setGrad(frozen, GRADS[0]);
        frozen.requiresGrad(false);
        setGrad(live, GRADS[0]);
        opt.step();
        assertThat(frozen.toFloatArray()).containsExactly(1, -2);
        assertThat(noGrad.toFloatArray()).containsExactly(1, -2);
        assertThat(live.toFloatArray()).isNotEqualTo(new float[] {1, -2});
        assertThat(opt.momentumBuffer(frozen)).isNull();
        assertThat(opt.momentumBuffer(noGrad)).isNull();
        opt.zeroGrad();
        assertThat(live.grad()).isNull();
        assertThat(frozen.grad()).isNull();
    }

    @Test
    void validatesOptions() {
        assertThatThrownBy(() -> new SGD(List.of(param(true)), 0.1, 0, 0, 0, true))
                .isInstanceOf(GraftException.class).hasMessageContaining("nesterov");
        assertThatThrownBy(() -> new SGD(List.of(param(true)), 0.1, 0.9, 0.1, 0, true))
                .isInstanceOf(GraftException.class).hasMessageContaining("dampening");
        assertThatThrownBy(() -> new SGD(List.of(param(true)), -1))
                .isInstanceOf(GraftException.class).hasMessageContaining("learning rate");
        assertThatThrownBy(() -> new SGD(List.of(new ParamGroup(List.of(param(true))).with("beta1", 0.9)), SGD.Options.lr(0.1)))
                .isInstanceOf(GraftException.class).hasMessageContaining("unknown option 'beta1'");
        Tensor p = param(true);
        assertThatThrownBy(() -> new SGD(List.of(p, p), 0.1)).isInstanceOf(GraftException.class).hasMessageContaining("more than once");
        assertThatThrownBy(() -> new SGD(List.of(p.mul(2.0)), 0.1)).isInstanceOf(GraftException.class).hasMessageContaining("non-leaf");
    }
}
