package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.nn.Init;
import dev.graft.ops.Losses;
import dev.graft.optim.SGD;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whole training steps of ResNet-18 and MobileNetV2 on the CUDA backend against the same steps on the
 * CPU backend: logits, loss, every parameter's gradient, the batch-norm running statistics, and the
 * parameters after an SGD step with momentum and weight decay. Once with the backbone trainable
 * (batch norm on batch statistics), once with it frozen (phase 1 of transfer learning: batch norm in
 * inference mode, only the new head learns). Small images (32x32, batch 2) keep the emulation quick;
 * every op of both networks runs, forward and backward.
 *
 * <p>Convolutions run in exact FP32 here ({@code graft.cuda.tf32.conv=false}) so that a mismatch in
 * any kernel shows; {@link #tf32StepStaysClose} checks the TF32 default with a bound that fits its
 * 10-bit mantissa.
 */
class CudaTrainingStepTest {
    private final String savedTf32 = System.getProperty("graft.cuda.tf32.conv");

    @AfterEach
    void restore() {
        if (savedTf32 == null) System.clearProperty("graft.cuda.tf32.conv");
        else System.setProperty("graft.cuda.tf32.conv", savedTf32);
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        CudaTesting.backends().forEach(b -> {
            for (String model : List.of("resnet18", "mobilenet_v2"))
                for (boolean frozen : new boolean[] {false, true}) list.add(Arguments.of(model, frozen, b));
        });
        return list.stream();
    }

    /** Two copies of the same freshly initialised network: one stays on the CPU, one moves to {@code b}. */
    private static ImageClassifier[] pair(String model, CudaBackend b) {
        Init.manualSeed(42);
        ImageClassifier cpu = Models.create(model, 10);
        ImageClassifier gpu = Models.create(model, 10);
        gpu.loadStateDict(cpu.stateDict());
        gpu.to(b);
        return new ImageClassifier[] {cpu, gpu};
    }

    private static Tensor images(long seed) {
        return Tensor.randn(new SplittableRandom(seed), 2, 3, 32, 32);
    }

    @ParameterizedTest(name = "{0}, frozen backbone {1}, {2}")
    @MethodSource("cases")
    void trainingStepMatchesTheCpu(String model, boolean frozen, CudaBackend b) {
        System.setProperty("graft.cuda.tf32.conv", "false");
        ImageClassifier[] nets = pair(model, b);
        ImageClassifier cpu = nets[0], gpu = nets[1];
        for (ImageClassifier net : nets) {
            net.train();
            if (frozen) net.freezeBackbone();
        }
        SGD cpuOpt = new SGD(cpu.trainableParameters(), 0.05, 0.9, 1e-4);
        SGD gpuOpt = new SGD(gpu.trainableParameters(), 0.05, 0.9, 1e-4);
        int[] labels = {3, 7};
        Tensor x = images(5);

        Tensor cpuLogits = cpu.forward(x), gpuLogits = gpu.forward(x.to(b));
        assertClose(model + " logits", gpuLogits, cpuLogits, 2e-4);
        Tensor cpuLoss = Losses.crossEntropy(cpuLogits, labels), gpuLoss = Losses.crossEntropy(gpuLogits, labels);
        assertClose(model + " loss", gpuLoss, cpuLoss, 1e-5);
        cpuOpt.zeroGrad();
        gpuOpt.zeroGrad();
        cpuLoss.backward();
        gpuLoss.backward();

        Map<String, Tensor> cp = cpu.namedParameters(), gp = gpu.namedParameters();
        int compared = 0;
        for (String name : cp.keySet()) {
            Tensor cg = cp.get(name).grad(), gg = gp.get(name).grad();
            assertThat(gg == null).as(name + " has a gradient on one backend only").isEqualTo(cg == null);
            if (cg == null) continue;
            assertClose(model + " grad " + name, gg, cg, 2e-3);
            compared++;
        }
        assertThat(compared).as("parameters with gradients").isGreaterThan(frozen ? 0 : 20);
        Map<String, Tensor> cb = cpu.namedBuffers(), gb = gpu.namedBuffers();
        for (String name : cb.keySet()) assertClose(model + " buffer " + name, gb.get(name), cb.get(name), 1e-5);

        cpuOpt.step();
        gpuOpt.step();
        for (String name : cp.keySet()) assertClose(model + " after SGD " + name, gp.get(name), cp.get(name), 1e-5);
    }

    static Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void tf32StepStaysClose(CudaBackend b) {
        System.setProperty("graft.cuda.tf32.conv", "true");
        ImageClassifier[] nets = pair("resnet18", b);
        for (ImageClassifier net : nets) net.train();
        Tensor x = images(9);
        Tensor cpuLogits = nets[0].forward(x), gpuLogits = nets[1].forward(x.to(b));
        // TF32 keeps 10 mantissa bits (relative rounding 2^-11 per product); through 18 layers with batch
        // norm renormalising each, the logits stay within a few percent of their scale.
        assertClose("resnet18 logits (TF32 convolutions)", gpuLogits, cpuLogits, 5e-2);
        Tensor cpuLoss = Losses.crossEntropy(cpuLogits, new int[] {1, 2});
        Tensor gpuLoss = Losses.crossEntropy(gpuLogits, new int[] {1, 2});
        cpuLoss.backward();
        gpuLoss.backward();
        assertClose("resnet18 fc.weight grad (TF32)", nets[1].getParameter("fc.weight").grad(),
                nets[0].getParameter("fc.weight").grad(), 5e-2);
    }
}
