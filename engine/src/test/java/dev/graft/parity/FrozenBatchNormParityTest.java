package dev.graft.parity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.io.Npy;
import dev.graft.nn.BatchNorm2d;
import dev.graft.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The frozen-BN fixture (torch BatchNorm2d in eval mode with non-trivial running statistics) against a
 * Graft BatchNorm2d that is {@link dev.graft.nn.Module#freeze() frozen} while the model trains: same
 * output and input gradient, no parameter gradients, statistics untouched. (The BN-inference variant,
 * which keeps training the affine parameters, runs in {@link OpParityTest}.)
 */
class FrozenBatchNormParityTest {

    @Test
    void frozenBatchNormInTrainingModeMatchesTorchEvalMode() {
        Fixtures.Case spec = Fixtures.find("batch_norm_frozen_module");
        Map<String, Npy.Array> a = spec.arrays();
        Tensor x = a.get("x").toTensor().requiresGrad(true);
        BatchNorm2d bn = new BatchNorm2d(x.size(1), spec.params().path("eps").asDouble(), spec.params().path("momentum").asDouble());
        bn.loadStateDict(Map.of("weight", a.get("weight").toTensor(), "bias", a.get("bias").toTensor(),
                "running_mean", a.get("running_mean").toTensor(), "running_var", a.get("running_var").toTensor()), true);
        bn.train();
        bn.freeze();
        assertThat(bn.isTraining()).isTrue();
        Tensor y = bn.forward(x);
        y.backward(a.get("dy").toTensor());
        Compare.check("out", y, a.get("out"), OpCase.TOLERANCE);
        Compare.check("grad.x", x.grad(), a.get("grad.x"), OpCase.TOLERANCE);
        assertThat(bn.weight().grad()).as("frozen weight gets no gradient").isNull();
        assertThat(bn.bias().grad()).as("frozen bias gets no gradient").isNull();
        assertThat(bn.runningMean().toFloatArray()).as("running_mean untouched").isEqualTo(a.get("running_mean").toFloatArray());
        assertThat(bn.runningVar().toFloatArray()).as("running_var untouched").isEqualTo(a.get("running_var").toFloatArray());
    }
}
