package dev.graft.parity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.ops.Dropout;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Dropout's random mask cannot match torch's, so instead of a fixture: the keep rate, the 1/(1 − p)
 * scaling, and the backward pass reusing the forward's mask. (p = 0 and evaluation mode, which are
 * the identity, are fixture cases in {@link OpParityTest}.)
 */
class DropoutParityTest {

    @ParameterizedTest(name = "p={0} {1}")
    @CsvSource({"0.1, float32", "0.3, float32", "0.5, float32", "0.9, float32", "0.3, float64"})
    void maskKeepRateScalingAndBackwardAgree(double p, String dtypeName) {
        DType dtype = dtypeName.equals("float64") ? DType.FLOAT64 : DType.FLOAT32;
        int n = 200_000;
        SplittableRandom data = new SplittableRandom(7);
        Tensor x = Tensor.uniform(data, 1, 2, n).to(dtype).requiresGrad(true); // never zero: y == 0 iff dropped
        Tensor dy = Tensor.uniform(data, -1, 1, n).to(dtype);
        Tensor y = Dropout.dropout(x, p, true, new SplittableRandom(42));
        y.backward(dy);
        double[] xv = x.toDoubleArray(), yv = y.toDoubleArray(), dyv = dy.toDoubleArray(), gv = x.grad().toDoubleArray();
        double scale = 1 / (1 - p);
        double relTol = dtype == DType.FLOAT32 ? 1e-6 : 1e-12;
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            if (yv[i] == 0) {
                dropped++;
                assertThat(gv[i]).as("gradient of dropped element %d", i).isEqualTo(0.0);
            } else {
                assertThat(yv[i]).as("kept element %d scaled by 1/(1-p)", i).isCloseTo(xv[i] * scale, within(relTol * xv[i] * scale));
                assertThat(gv[i]).as("gradient of kept element %d uses the same mask", i).isCloseTo(dyv[i] * scale, within(relTol * scale + 1e-300));
            }
        }
        double sigma = Math.sqrt(p * (1 - p) / n);
        assertThat((double) dropped / n).as("drop rate").isCloseTo(p, within(6 * sigma));
        // the same generator state gives the same mask
        Tensor again = Dropout.dropout(x.detach(), p, true, new SplittableRandom(42));
        assertThat(again.toDoubleArray()).isEqualTo(yv);
    }

    @ParameterizedTest(name = "p={0}")
    @CsvSource({"0.0", "0.5", "1.0"})
    void evaluationModeIsTheIdentityAndPOneDropsEverything(double p) {
        Tensor x = Tensor.uniform(new SplittableRandom(3), -1, 1, 4, 5).requiresGrad(true);
        Tensor eval = Dropout.dropout(x, p, false, new SplittableRandom(1));
        assertThat(eval.toFloatArray()).isEqualTo(x.toFloatArray());
        Tensor train = Dropout.dropout(x, p, true, new SplittableRandom(1));
        if (p == 1.0) {
            for (float v : train.toFloatArray()) assertThat(v == 0).as("p = 1 drops everything (±0)").isTrue();
            train.backward(Tensor.ones(4, 5));
            for (float v : x.grad().toFloatArray()) assertThat(v == 0).as("no gradient through dropped elements").isTrue();
        } else if (p == 0.0) {
            assertThat(train.toFloatArray()).isEqualTo(x.toFloatArray());
        }
    }
}
