package dev.graft.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.tensor.Tensor;
import org.junit.jupiter.api.Test;

class AutogradTest {

    @Test
    void gradientsAccumulateAcrossBackwardCalls() {
        Tensor x = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
        x.mul(x).sum().backward();
        assertThat(x.grad().toFloatArray()).containsExactly(2, 4, 6);
        x.mul(3.0).sum().backward();
        assertThat(x.grad().toFloatArray()).containsExactly(5, 7, 9);
        x.zeroGrad();
        assertThat(x.grad()).isNull();
    }

    @Test
    void aTensorUsedTwiceGetsBothContributions() {
        Tensor x = Tensor.of(new float[] {0.5f, -1}, 2).requiresGrad(true);
        Tensor y = x.mul(x).add(x.sigmoid()).add(x); // d/dx = 2x + s(1-s) + 1
        y.sum().backward();
        float[] g = x.grad().toFloatArray();
        double s0 = 1 / (1 + Math.exp(-0.5)), s1 = 1 / (1 + Math.exp(1));
        assertThat((double) g[0]).isCloseTo(1 + s0 * (1 - s0) + 1, within(1e-6));
        assertThat((double) g[1]).isCloseTo(-2 + s1 * (1 - s1) + 1, within(1e-6));
    }

    @Test
    void noGradRecordsNothingAndRestoresTheMode() {
        Tensor x = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
        Tensor y;
        try (var _ = Autograd.noGrad()) {
            y = x.mul(2.0);
            assertThat(Autograd.isEnabled()).isFalse();
            try (var _ = Autograd.enableGrad()) {
                assertThat(x.mul(2.0).requiresGrad()).isTrue();
            }
            assertThat(Autograd.isEnabled()).isFalse();
        }
        assertThat(Autograd.isEnabled()).isTrue();
        assertThat(y.requiresGrad()).isFalse();
        assertThat(y.gradFn()).isNull();
    }

    @Test
    void detachCutsTheGraphButSharesStorage() {
        Tensor x = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
        Tensor y = x.mul(2.0);
        Tensor d = y.detach();
        assertThat(d.requiresGrad()).isFalse();
        assertThat(d.storage()).isSameAs(y.storage());
        Tensor z = d.mul(x).sum();
        z.backward();
        assertThat(x.grad().toFloatArray()).containsExactly(2, 4); // only through the live branch
    }

    @Test
    void gradientsFlowThroughViewsIntoTheRightElements() {
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).requiresGrad(true);
        Tensor y = x.transpose(0, 1).slice(0, 1, 3).reshape(4); // elements 2,5,3,6
        y.mul(Tensor.of(new float[] {10, 20, 30, 40}, 4)).sum().backward();
        assertThat(x.grad().toFloatArray()).containsExactly(0, 10, 30, 0, 20, 40);
    }

    @Test
    void leafGradientDoesNotAliasTheUpstreamGradient() {
        Tensor a = Tensor.of(new float[] {1}, 1).requiresGrad(true);
        Tensor b = Tensor.of(new float[] {1}, 1).requiresGrad(true);
        Tensor up = Tensor.of(new float[] {3}, 1);
        a.add(b).backward(up);
        assertThat(a.grad().storage()).isNotSameAs(b.grad().storage());
        assertThat(a.grad().storage()).isNotSameAs(up.storage());
    }

    @Test
    void misuseIsReported() {
        Tensor x = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
        assertThatThrownBy(() -> x.mul(2.0).backward()).hasMessageContaining("one-element");
        assertThatThrownBy(() -> x.mul(2.0).requiresGrad(false)).hasMessageContaining("leaf");
        assertThatThrownBy(() -> Tensor.of(new float[] {1}, 1).backward()).hasMessageContaining("does not require grad");
    }

    @Test
    void deepChainsDoNotOverflowTheStack() {
        Tensor x = Tensor.of(new float[] {1}, 1).requiresGrad(true);
        Tensor y = x;
        for (int i = 0; i < 20_000; i++) y = y.add(1.0);
        y.sum().backward();
        assertThat(x.grad().toFloatArray()).containsExactly(1);
    }
}
