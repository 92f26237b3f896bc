package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.models.Models;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Opening weight files by content and loading them into models. */
class PretrainedTest {
    @TempDir
    Path dir;

    @Test
    void opensByContentNotExtension() throws Exception {
        Path st = dir.resolve("weights.bin");
        Files.copy(ZooFixtures.path("small.safetensors"), st);
        assertThat(Pretrained.open(st)).isInstanceOf(SafetensorsFile.class);
        Path pth = dir.resolve("weights.data");
        Files.copy(ZooFixtures.path("views.pth"), pth);
        assertThat(Pretrained.open(pth).format()).isEqualTo("pytorch");
        byte[] random = new byte[1 << 16];
        new Random(3).nextBytes(random);
        random[0] = 1;
        random[8] = 2;
        assertThatThrownBy(() -> Pretrained.open(TestFiles.write(dir, "x.dat", random))).isInstanceOf(ImportException.class)
                .hasMessage("x.dat: unrecognized weight file (not safetensors, a PyTorch zip checkpoint, TFLite or .onnx)");
        assertThatThrownBy(() -> Pretrained.open(TestFiles.write(dir, "random.onnx", random))).isInstanceOf(ImportException.class)
                .hasMessageStartingWith("random.onnx: ");
        byte[] tfl = random.clone();
        tfl[4] = 'T'; tfl[5] = 'F'; tfl[6] = 'L'; tfl[7] = '3';
        assertThatThrownBy(() -> Pretrained.open(TestFiles.write(dir, "model.bin", tfl))).isInstanceOf(ImportException.class)
                .hasMessageStartingWith("model.bin: ");
        assertThatThrownBy(() -> Pretrained.open(TestFiles.write(dir, "random.pth", random))).isInstanceOf(ImportException.class)
                .hasMessageStartingWith("random.pth: not a PyTorch zip checkpoint");
        assertThatThrownBy(() -> Pretrained.open(TestFiles.write(dir, "e.safetensors", new byte[0]))).isInstanceOf(ImportException.class)
                .hasMessage("e.safetensors: empty file");
        assertThatThrownBy(() -> Pretrained.open(dir.resolve("absent.pth"))).isInstanceOf(ImportException.class)
                .hasMessage("absent.pth: no such file");
    }

    @Test
    void architectureIsGuessedFromTheKeys() {
        for (String arch : Models.NAMES)
            assertThat(Pretrained.guessArchitecture(dir.resolve("w.pth"), Models.create(arch, 7).stateDict().keySet())).isEqualTo(arch);
        assertThatThrownBy(() -> Pretrained.guessArchitecture(dir.resolve("w.pth"), java.util.Set.of("encoder.weight")))
                .isInstanceOf(ImportException.class).hasMessageContaining("pass --model");
    }

    @Test
    void dataParallelPrefixIsStripped() {
        Module model = Models.resnet18(3);
        Map<String, Tensor> sd = new LinkedHashMap<>();
        Random rnd = new Random(5);
        model.stateDict().forEach((k, v) -> {
            float[] x = new float[v.numel()];
            for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
            sd.put("module." + k, Tensor.of(x, v.shape()));
        });
        Path f = dir.resolve("dp.safetensors");
        Safetensors.write(f, sd, Map.of());
        assertThat(Pretrained.load(model, f).isExactMatch()).isTrue();
        assertThat(model.stateDict().get("layer2.0.downsample.1.running_var").toFloatArray())
                .isEqualTo(sd.get("module.layer2.0.downsample.1.running_var").toFloatArray());
    }
}
