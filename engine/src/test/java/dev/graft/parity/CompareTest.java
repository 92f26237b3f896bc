package dev.graft.parity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The parity harness must fail loudly: a negative control for {@link Compare}. */
class CompareTest {
    @Test
    void relativeErrorUsesTheLargestReferenceValueFlooredAt1eMinus3() {
        double[] ref = {1, -2, 4, 0.5};
        assertThat(Compare.check("x", new double[] {1, -2, 4 + 3e-5, 0.5}, ref, new int[] {2, 2}, 1e-5)).isCloseTo(7.5e-6, org.assertj.core.api.Assertions.within(1e-12));
        // tiny references: the floor keeps round-off from failing the check
        assertThat(Compare.check("tiny", new double[] {1e-9}, new double[] {0}, new int[] {1}, 1e-5)).isLessThan(1e-5);
    }

    @Test
    void mismatchesListIndexGraftAndReferenceAndTheMaximum() {
        double[] ref = {1, 2, 3, 4, 5, 6};
        double[] bad = {1, 2.5, 3, 4, 5, Double.NaN};
        assertThatThrownBy(() -> Compare.check("grad.x", bad, ref, new int[] {2, 3}, 1e-5))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("grad.x")
                .hasMessageContaining("[0, 1] 2.5 2.0")
                .hasMessageContaining("[1, 2] NaN 6.0")
                .hasMessageContaining("max |graft - ref| = 0.500");
        assertThatThrownBy(() -> Compare.check("n", new double[] {1}, new double[] {1, 2}, new int[] {2}, 1e-5))
                .isInstanceOf(AssertionError.class).hasMessageContaining("1 values");
    }
}
