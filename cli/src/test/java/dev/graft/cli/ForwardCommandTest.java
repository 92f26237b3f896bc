package dev.graft.cli;

import static dev.graft.cli.ClassifyCommandTest.assertOneLineError;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.autograd.Autograd;
import dev.graft.io.Npy;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.nn.Init;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.Safetensors;
import dev.graft.cli.MainTest.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code graft forward}: the saved output equals a direct eval-mode forward in Java. */
class ForwardCommandTest {
    @Test
    void resnet18StateDictGivesTheSameLogitsAsAJavaForward(@TempDir Path tmp) {
        Init.manualSeed(7);
        ImageClassifier model = Models.create("resnet18", 10);
        Path weights = tmp.resolve("resnet18.safetensors");
        Safetensors.write(weights, model.stateDict(), Map.of());
        Tensor x = Tensor.randn(new SplittableRandom(3), 2, 3, 64, 64);
        Path in = tmp.resolve("x.npy"), out = tmp.resolve("y.npy");
        Npy.write(in, x);

        model.eval();
        Tensor expected;
        try (var scope = Autograd.noGrad()) {
            expected = model.forward(x);
        }
        for (String[] modelArg : new String[][] {{"--model", "resnet18"}, {}}) { // named, then guessed from the keys
            String[] args = concat(new String[] {"forward", "--weights", weights.toString(), "--input", in.toString(), "--output", out.toString()}, modelArg);
            Result r = MainTest.run(args);
            assertThat(r.code()).as(r.err()).isZero();
            Tensor y = Npy.read(out);
            assertThat(y.shape()).containsExactly(2, 10);
            float[] a = y.toFloatArray(), b = expected.toFloatArray();
            assertThat(a).containsExactly(b); // same weights, same kernels: bit-identical
        }
    }

    @Test
    void graphFileRunsTheGraphAsStoredSoftmaxIncluded(@TempDir Path tmp) {
        Path model = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Path in = tmp.resolve("x.npy"), out = tmp.resolve("y.npy");
        Npy.write(in, Tensor.uniform(new SplittableRandom(1), -1, 1, 1, 3, 128, 128));
        Result r = MainTest.run("forward", "--weights", model.toString(), "--input", in.toString(), "--output", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        float[] y = Npy.read(out).toFloatArray();
        assertThat(y).hasSize(1001);
        double sum = 0;
        for (float v : y) sum += v;
        assertThat(sum).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-3));
    }

    @Test
    void cudaWithoutAGpuIsAClearErrorAndNothingIsWritten(@TempDir Path tmp) {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.graft.backend.cuda.CudaProbe.probe().devices().isEmpty(),
                "this machine has a GPU: the no-GPU error cannot happen here");
        Path out = tmp.resolve("y.npy");
        Result r = MainTest.run("forward", "--device", "cuda", "--weights", "w.safetensors", "--input", "x.npy", "--output", out.toString());
        assertOneLineError(r, 1, "--device cuda: device cuda:0 is not available");
        assertThat(Files.exists(out)).isFalse();
    }

    @Test
    void missingFilesAndBadShapesAreOneLineErrors(@TempDir Path tmp) {
        Init.manualSeed(1);
        Path weights = tmp.resolve("r.safetensors");
        Safetensors.write(weights, Models.create("resnet18", 3).stateDict(), Map.of());
        Path flat = tmp.resolve("flat.npy");
        Npy.write(flat, Tensor.zeros(3, 8));
        String out = tmp.resolve("y.npy").toString();
        assertOneLineError(MainTest.run("forward", "--weights", weights.toString(), "--input", tmp.resolve("none.npy").toString(), "--output", out), 1, "none.npy");
        assertOneLineError(MainTest.run("forward", "--weights", tmp.resolve("none.pth").toString(), "--input", flat.toString(), "--output", out), 1, "none.pth");
        assertOneLineError(MainTest.run("forward", "--weights", weights.toString(), "--input", flat.toString(), "--output", out), 1, "[N, C, H, W]");
        assertOneLineError(MainTest.run("forward", "--weights", weights.toString(), "--input", flat.toString()), 2, "--output");
        assertThat(Files.exists(Path.of(out))).isFalse();
    }

    private static String[] concat(String[] a, String[] b) {
        String[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
