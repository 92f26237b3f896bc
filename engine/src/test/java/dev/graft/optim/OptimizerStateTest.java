package dev.graft.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.nn.Linear;
import dev.graft.ops.Losses;
import dev.graft.tensor.Tensor;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Saving an optimizer's state and loading it into a new one continues the run exactly. */
class OptimizerStateTest {
    private static Optimizer make(String kind, List<Tensor> params) {
        return kind.equals("sgd") ? new SGD(params, 0.1, 0.9, 0, 1e-3, true) : new AdamW(params, 0.01);
    }

    private static void steps(Linear model, Optimizer opt, int from, int to) {
        for (int i = from; i < to; i++) {
            Tensor x = Tensor.randn(new Random(i), 4, 3);
            opt.zeroGrad();
            Losses.crossEntropy(model.forward(x), new int[] {0, 1, 1, 0}).backward();
            opt.step();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "adamw"})
    void resumedRunMatchesTheUninterruptedOne(String kind) {
        Linear a = new Linear(3, 2);
        Linear b = new Linear(3, 2);
        b.loadStateDict(a.stateDict());
        Optimizer oa = make(kind, a.parameters());
        steps(a, oa, 0, 5);

        Optimizer ob = make(kind, b.parameters());
        steps(b, ob, 0, 3);
        var saved = ob.stateDict();
        Linear c = new Linear(3, 2);
        c.loadStateDict(b.stateDict());
        Optimizer oc = make(kind, c.parameters());
        oc.loadStateDict(saved);
        steps(c, oc, 3, 5);

        assertThat(c.weight().toFloatArray()).containsExactly(a.weight().toFloatArray());
        assertThat(c.bias().toFloatArray()).containsExactly(a.bias().toFloatArray());
        assertThat(saved.keySet()).allMatch(k -> k.startsWith("0.") || k.startsWith("1."));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "adamw"})
    void stateOfTheWrongShapeIsRefused(String kind) {
        Linear a = new Linear(3, 2);
        Optimizer oa = make(kind, a.parameters());
        steps(a, oa, 0, 1);
        Optimizer other = make(kind, new Linear(4, 2).parameters());
        assertThatThrownBy(() -> other.loadStateDict(oa.stateDict())).isInstanceOf(GraftException.class).hasMessageContaining("shape");
    }
}
