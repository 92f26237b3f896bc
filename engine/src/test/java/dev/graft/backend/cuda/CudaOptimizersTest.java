package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.tensor.Tensor;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's SGD and AdamW steps against the CPU backend over several steps and every
 * combination of options; the kernels round as the CPU's Java arithmetic, so the results must be
 * equal.
 */
class CudaOptimizersTest {
    private final Random rng = new Random(3);

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    private static final int N = 1003;

    @ParameterizedTest
    @MethodSource("backends")
    void sgdMatchesTheCpuForEveryOption(CudaBackend b) {
        for (double momentum : new double[] {0, 0.9}) {
            for (double dampening : new double[] {0, 0.1}) {
                for (boolean nesterov : new boolean[] {false, true}) {
                    for (double wd : new double[] {0, 1e-2}) {
                        if (momentum == 0 && (dampening != 0 || nesterov)) continue;
                        String what = "sgd momentum " + momentum + " dampening " + dampening + " nesterov " + nesterov + " wd " + wd;
                        Tensor pc = CudaTesting.randn(rng, N), pg = pc.to(b);
                        Tensor bufC = momentum == 0 ? null : Tensor.zeros(CPU, N), bufG = momentum == 0 ? null : Tensor.zeros(b, N);
                        for (int step = 0; step < 3; step++) {
                            Tensor g = CudaTesting.randn(rng, N);
                            CPU.sgdStep(pc, g, bufC, 0.05, momentum, dampening, wd, nesterov, step == 0);
                            b.sgdStep(pg, g.to(b), bufG, 0.05, momentum, dampening, wd, nesterov, step == 0);
                            assertClose(what + " step " + step + " param", pg, pc, 0);
                            if (bufC != null) assertClose(what + " step " + step + " buffer", bufG, bufC, 0);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void sgdPropagatesNaNAndRefusesAMissingBuffer(CudaBackend b) {
        float[] p = {1f, Float.NaN, 2f, Float.POSITIVE_INFINITY};
        float[] g = {Float.NaN, 1f, 0.5f, 1f};
        Tensor pc = Tensor.of(p, 4), pg = pc.to(b), gc = Tensor.of(g, 4);
        CPU.sgdStep(pc, gc, null, 0.1, 0, 0, 0, false, true);
        b.sgdStep(pg, gc.to(b), null, 0.1, 0, 0, 0, false, true);
        assertClose("sgd with NaN and inf", pg, pc, 0);
        assertThatThrownBy(() -> b.sgdStep(pg, gc.to(b), null, 0.1, 0.9, 0, 0, false, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("momentum 0.9 needs a momentum buffer");
        Tensor empty = Tensor.zeros(b, 0);
        b.sgdStep(empty, empty, empty, 0.1, 0.9, 0, 0, false, true);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void adamwMatchesTheCpuOverSteps(CudaBackend b) {
        double[][] settings = {
            {1e-3, 0.9, 0.999, 1e-8, 0},
            {1e-2, 0.9, 0.999, 1e-8, 1e-2},
            {3e-4, 0.8, 0.99, 1e-6, 0.1},
        };
        for (double[] s : settings) {
            Tensor pc = CudaTesting.randn(rng, N), pg = pc.to(b);
            Tensor mc = Tensor.zeros(CPU, N), vc = Tensor.zeros(CPU, N), mg = Tensor.zeros(b, N), vg = Tensor.zeros(b, N);
            for (int step = 1; step <= 4; step++) {
                Tensor g = CudaTesting.randn(rng, N);
                CPU.adamwStep(pc, g, mc, vc, s[0], s[1], s[2], s[3], s[4], step);
                b.adamwStep(pg, g.to(b), mg, vg, s[0], s[1], s[2], s[3], s[4], step);
                String what = "adamw lr " + s[0] + " wd " + s[4] + " step " + step;
                assertClose(what + " param", pg, pc, 0);
                assertClose(what + " exp_avg", mg, mc, 0);
                assertClose(what + " exp_avg_sq", vg, vc, 0);
            }
        }
        Tensor empty = Tensor.zeros(b, 0);
        b.adamwStep(empty, empty, empty, empty, 1e-3, 0.9, 0.999, 1e-8, 0, 1);
    }
}
