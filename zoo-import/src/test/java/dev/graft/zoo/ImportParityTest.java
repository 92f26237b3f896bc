package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.io.Npy;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.nn.LoadResult;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Weights saved by PyTorch 1.13 / torchvision 0.14 (random, BatchNorm statistics perturbed) loaded through
 * each importer into Graft's models: eval-mode logits must match torchvision's to max|diff|/max|ref| ≤ 1e-4.
 */
class ImportParityTest {
    private static final double TOLERANCE = 1e-4;

    /** Loads {@code file} strictly into a fresh {@code arch} and compares the logits for the fixture input. */
    private static double check(String arch, String file) {
        ImageClassifier model = Models.create(arch, 1000);
        Path path = ZooFixtures.path(file);
        long t0 = System.nanoTime();
        ModelFile mf = Pretrained.open(path);
        LoadResult r = Pretrained.load(model, mf);
        long loadMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(r.isExactMatch()).isTrue();
        model.eval();
        Tensor x = Npy.read(ZooFixtures.path(arch + "_input.npy"));
        Tensor ref = Npy.read(ZooFixtures.path(arch + "_logits.npy"));
        Tensor y = model.forward(x);
        assertThat(y.shape()).containsExactly(ref.shape());
        float[] a = y.toFloatArray(), b = ref.toFloatArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        double rel = maxDiff / maxRef;
        System.out.printf("[ImportParityTest] %-30s -> %-12s (%s) load %4d ms: max|diff| = %.3g, max|ref| = %.4g, relative %.3g%n",
                file, arch, mf.format(), loadMs, maxDiff, maxRef, rel);
        assertThat(rel).as("%s into %s: max|diff|/max|ref| (max|diff| %s)", file, arch, maxDiff).isLessThanOrEqualTo(TOLERANCE);
        return rel;
    }

    @Test
    void resnet18Pth() {
        check("resnet18", "resnet18.pth");
    }

    @Test
    void resnet18WrappedCheckpoint() {
        PthFile f = PthFile.read(ZooFixtures.path("resnet18_wrapped.pth"));
        assertThat(f.wrapperKey()).isEqualTo("state_dict");
        check("resnet18", "resnet18_wrapped.pth");
    }

    @Test
    void resnet18Safetensors() {
        SafetensorsFile f = SafetensorsFile.read(ZooFixtures.path("resnet18.safetensors"));
        assertThat(f.metadata()).containsEntry("arch", "resnet18").containsEntry("format", "pt");
        assertThat(f.tensors()).anySatisfy(t -> assertThat(t.dtype()).isEqualTo("I64"));
        assertThat(f.stateDict().keySet()).noneMatch(k -> k.endsWith("num_batches_tracked"));
        check("resnet18", "resnet18.safetensors");
    }

    @Test
    void resnet50Pth() {
        check("resnet50", "resnet50.pth");
    }

    @Test
    void mobilenetV2PthAndSafetensors() {
        check("mobilenet_v2", "mobilenet_v2.pth");
        check("mobilenet_v2", "mobilenet_v2.safetensors");
    }

    @Test
    void timmMobilenetV2NamesMapToTorchvision() {
        PthFile f = PthFile.read(ZooFixtures.path("mobilenet_v2_timm.pth"));
        assertThat(f.wrapperKey()).isEqualTo("model");
        assertThat(f.stateDict()).containsKeys("conv_stem.weight", "blocks.0.0.conv_dw.weight", "blocks.6.0.conv_pwl.weight", "conv_head.weight");
        check("mobilenet_v2", "mobilenet_v2_timm.pth");
        check("mobilenet_v2", "mobilenet_v2_timm.safetensors");
    }

    @Test
    void pthAndSafetensorsGiveIdenticalStateDicts() {
        Map<String, Tensor> a = PthFile.read(ZooFixtures.path("resnet18.pth")).stateDict();
        Map<String, Tensor> b = SafetensorsFile.read(ZooFixtures.path("resnet18.safetensors")).stateDict();
        assertThat(b.keySet()).containsExactlyInAnyOrderElementsOf(a.keySet());
        for (String k : a.keySet()) {
            assertThat(b.get(k).shape()).as(k).containsExactly(a.get(k).shape());
            assertThat(b.get(k).toFloatArray()).as(k).isEqualTo(a.get(k).toFloatArray());
        }
    }

    @Test
    void javaWrittenSafetensorsRoundTripsAndLoads(@TempDir Path dir) {
        Map<String, Tensor> sd = PthFile.read(ZooFixtures.path("resnet18.pth")).stateDict();
        Path out = dir.resolve("resnet18-graft.safetensors");
        Safetensors.write(out, sd, Map.of("source", "graft"));
        SafetensorsFile back = Safetensors.read(out);
        assertThat(back.metadata()).containsEntry("source", "graft");
        Map<String, Tensor> sd2 = back.stateDict();
        for (String k : sd.keySet()) assertThat(sd2.get(k).toFloatArray()).as(k).isEqualTo(sd.get(k).toFloatArray());
        ImageClassifier model = Models.create("resnet18", 1000);
        assertThat(Pretrained.load(model, back).isExactMatch()).isTrue();
    }

    @Test
    void strictLoadIntoAnotherArchitectureListsMissingKeys() {
        ImageClassifier model = Models.create("resnet34", 1000);
        Path f = ZooFixtures.path("resnet18.pth");
        assertThatThrownBy(() -> Pretrained.load(model, f))
                .isInstanceOf(ImportException.class)
                .hasMessageStartingWith("resnet18.pth: ")
                .hasMessageContaining("missing keys [layer1.2.conv1.weight")
                .hasMessageNotContaining("\n");
    }

    @Test
    void shapeMismatchNamesTensorAndBothShapes() {
        ImageClassifier model = Models.create("resnet18", 10);
        Path f = ZooFixtures.path("resnet18.safetensors");
        assertThatThrownBy(() -> Pretrained.load(model, Pretrained.open(f), false))
                .isInstanceOf(ImportException.class)
                .hasMessageStartingWith("resnet18.safetensors: ")
                .hasMessageContaining("fc.weight")
                .hasMessageContaining("[1000, 512]")
                .hasMessageContaining("[10, 512]");
    }

    @Test
    void nonStrictLoadReportsMissingAndUnexpected(@TempDir Path dir) {
        Map<String, Tensor> sd = new LinkedHashMap<>(PthFile.read(ZooFixtures.path("resnet18.pth")).stateDict());
        sd.remove("fc.weight");
        sd.remove("fc.bias");
        sd.put("extra.weight", Tensor.of(new float[] {1}, 1));
        Path out = dir.resolve("backbone.safetensors");
        Safetensors.write(out, sd, Map.of());
        ImageClassifier model = Models.create("resnet18", 10);
        float[] fcBefore = model.stateDict().get("fc.weight").toFloatArray();
        assertThatThrownBy(() -> Pretrained.load(model, out)).isInstanceOf(ImportException.class)
                .hasMessageContaining("2 missing keys [fc.weight, fc.bias]").hasMessageContaining("1 unexpected keys [extra.weight]");
        LoadResult r = Pretrained.load(model, Safetensors.read(out), false);
        assertThat(r.missing()).containsExactly("fc.weight", "fc.bias");
        assertThat(r.unexpected()).containsExactly("extra.weight");
        assertThat(model.stateDict().get("fc.weight").toFloatArray()).isEqualTo(fcBefore);
        assertThat(model.stateDict().get("conv1.weight").toFloatArray()).isEqualTo(sd.get("conv1.weight").toFloatArray());
        assertThat(Arrays.equals(model.stateDict().get("layer4.1.bn2.running_var").toFloatArray(), sd.get("layer4.1.bn2.running_var").toFloatArray())).isTrue();
    }
}
