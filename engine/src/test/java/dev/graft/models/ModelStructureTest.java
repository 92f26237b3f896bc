package dev.graft.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Dropout;
import dev.graft.nn.Init;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.ops.Losses;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Architecture checks against torchvision 0.14 without weights: state-dict keys, shapes and kinds equal
 * the key lists dumped by {@code tools/fixtures/models/generate_model_fixtures.py --keys}, parameter
 * counts match, and the transfer-learning API (classifier replacement, backbone freezing) works.
 */
class ModelStructureTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** name → "shape kind", in torchvision's state_dict order. */
    private static LinkedHashMap<String, String> torchvisionKeys(JsonNode keys) {
        LinkedHashMap<String, String> out = new LinkedHashMap<>();
        for (JsonNode k : keys) {
            List<Integer> shape = new ArrayList<>();
            k.get("shape").forEach(d -> shape.add(d.asInt()));
            out.put(k.get("name").asText(), shape + " " + k.get("kind").asText());
        }
        return out;
    }

    private static JsonNode keyFile(String name) throws IOException {
        try (InputStream in = ModelStructureTest.class.getResourceAsStream("/fixtures/models/" + name + ".keys.json")) {
            assertThat(in).as("committed key list for " + name).isNotNull();
            return JSON.readTree(in);
        }
    }

    private static LinkedHashMap<String, String> graftKeys(Module m) {
        var params = m.namedParameters();
        LinkedHashMap<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
            List<Integer> shape = Arrays.stream(e.getValue().shape()).boxed().toList();
            out.put(e.getKey(), shape + " " + (params.containsKey(e.getKey()) ? "parameter" : "buffer"));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2"})
    void stateDictKeysShapesAndKindsEqualTorchvision(String name) throws IOException {
        JsonNode ref = keyFile(name);
        ImageClassifier model = Models.create(name, 1000);
        assertThat(model.architecture()).isEqualTo(name);
        // ordered comparison: same keys, same order, same shapes, same parameter/buffer split
        assertThat(new ArrayList<>(graftKeys(model).entrySet()).toString())
                .isEqualTo(new ArrayList<>(torchvisionKeys(ref.get("keys")).entrySet()).toString());
        assertThat(model.numParameters()).isEqualTo(ref.get("num_parameters").asLong());
    }

    @Test
    void parameterCountsEqualTorchvision() {
        assertThat(Models.resnet18(1000).numParameters()).isEqualTo(11_689_512L);
        assertThat(Models.resnet50(1000).numParameters()).isEqualTo(25_557_032L);
        assertThat(Models.mobilenetV2(1000).numParameters()).isEqualTo(3_504_872L);
    }

    @Test
    void classifierMetadata() {
        ResNet r18 = Models.resnet18(1000);
        ResNet r50 = Models.resnet50(7);
        MobileNetV2 mnv2 = Models.mobilenetV2(1000);
        assertThat(r18.classifierName()).isEqualTo("fc");
        assertThat(r18.numFeatures()).isEqualTo(512);
        assertThat(r50.numFeatures()).isEqualTo(2048);
        assertThat(r50.numClasses()).isEqualTo(7);
        assertThat(mnv2.classifierName()).isEqualTo("classifier.1");
        assertThat(mnv2.numFeatures()).isEqualTo(1280);
        assertThat(mnv2.classifier()).isSameAs(mnv2.module("classifier.1")).isInstanceOf(Linear.class);
        assertThat(((Dropout) mnv2.module("classifier.0")).p()).isEqualTo(0.2);
        assertThat(r18.classifier()).isSameAs(r18.module("fc"));
        for (ImageClassifier m : List.of(r18, r50, mnv2)) {
            Preprocessing p = m.preprocessing();
            assertThat(p).isEqualTo(Preprocessing.IMAGENET);
            assertThat(p.inputSize()).isEqualTo(224);
            assertThat(p.resizeSize()).isEqualTo(256);
            assertThat(p.cropSize()).isEqualTo(224);
            assertThat(p.mean()).containsExactly(0.485, 0.456, 0.406);
            assertThat(p.std()).containsExactly(0.229, 0.224, 0.225);
            assertThat(p.interpolation()).isEqualTo("bilinear");
        }
    }

    @Test
    void mobileNetBlocksMatchTorchvision() {
        MobileNetV2 m = Models.mobilenetV2(1000);
        assertThat(MobileNetV2.makeDivisible(32, 8)).isEqualTo(32);
        assertThat(MobileNetV2.makeDivisible(1280, 8)).isEqualTo(1280);
        assertThat(MobileNetV2.makeDivisible(0.35 * 32, 8)).isEqualTo(16);
        assertThat(MobileNetV2.makeDivisible(0.5 * 24, 8)).isEqualTo(16);
        List<Integer> residual = new ArrayList<>();
        for (int i = 1; i <= 17; i++)
            if (((MobileNetV2.InvertedResidual) m.module("features." + i)).residual()) residual.add(i);
        // torchvision: blocks with stride 1 and equal in/out channels
        assertThat(residual).containsExactly(3, 5, 6, 8, 9, 10, 12, 13, 15, 16);
        assertThat(new MobileNetV2(10, 0.5, 0.2).numFeatures()).isEqualTo(1280);
    }

    /**
     * Inference without gradients runs the fused convolution + batch norm (+ activation) kernels;
     * with gradients recorded the separate ops run. Both give the same logits bit for bit.
     */
    @Test
    void fusedInferenceEqualsTheOpsInSequence() {
        Tensor x = Tensor.randn(new SplittableRandom(3), 2, 3, 48, 40);
        for (ImageClassifier m : List.of(Models.resnet18(5), Models.resnet50(5), Models.mobilenetV2(5))) {
            dev.graft.nn.Init.manualSeed(7);
            for (var e : m.namedBuffers().entrySet())   // non-trivial running statistics
                if (e.getKey().endsWith("running_mean")) e.getValue().copyFrom(Tensor.randn(new SplittableRandom(e.getKey().hashCode()), e.getValue().shape()).mul(0.1));
            m.eval();
            float[] fused, plain = m.forward(x).toFloatArray();
            try (var _ = dev.graft.autograd.Autograd.noGrad()) {
                fused = m.forward(x).toFloatArray();
            }
            assertThat(fused).as(m.getClass().getSimpleName()).containsExactly(plain);
        }
    }

    @Test
    void forwardAndFeatureShapes() {
        Tensor x = Tensor.randn(new SplittableRandom(1), 2, 3, 32, 32);
        for (ImageClassifier m : List.of(Models.resnet18(5), Models.mobilenetV2(5))) {
            m.eval();
            assertThat(m.features(x).shape()).containsExactly(2, m.numFeatures());
            Tensor y = m.forward(x);
            assertThat(y.shape()).containsExactly(2, 5);
            for (float v : y.toFloatArray()) assertThat(Float.isFinite(v)).as("finite logits of %s", m.architecture()).isTrue();
        }
    }

    @Test
    void replaceClassifier() {
        Init.manualSeed(5);
        for (ImageClassifier m : List.of(Models.resnet18(1000), Models.mobilenetV2(1000))) {
            m.eval();
            Module old = m.classifier();
            Linear head = m.replaceClassifier(10);
            String w = m.classifierName() + ".weight", b = m.classifierName() + ".bias";
            assertThat(m.classifier()).isSameAs(head).isNotSameAs(old);
            assertThat(head.isTraining()).isFalse();
            assertThat(m.numClasses()).isEqualTo(10);
            assertThat(m.getParameter(w).shape()).containsExactly(10, m.numFeatures());
            assertThat(m.getParameter(b).shape()).containsExactly(10);
            // the state dict keeps its key names and order, with the new shapes
            List<String> keys = new ArrayList<>(m.stateDict().keySet());
            assertThat(keys.subList(keys.size() - 2, keys.size())).containsExactly(w, b);
            Tensor y = m.forward(Tensor.randn(new SplittableRandom(2), 1, 3, 32, 32));
            assertThat(y.shape()).containsExactly(1, 10);
        }
        assertThatThrownBy(() -> Models.resnet18(10).replaceClassifier(0)).isInstanceOf(GraftException.class);
    }

    @Test
    void freezeBackboneLeavesOnlyTheClassifierTrainable() {
        for (ImageClassifier m : List.of(Models.resnet18(1000), Models.mobilenetV2(1000))) {
            String w = m.classifierName() + ".weight", b = m.classifierName() + ".bias";
            assertThat(m.freezeBackbone()).isSameAs(m);
            assertThat(m.namedParameters().entrySet().stream().filter(e -> e.getValue().requiresGrad()).map(Map.Entry::getKey))
                    .containsExactly(w, b);
            assertThat(m.numTrainableParameters()).isEqualTo((long) m.numFeatures() * 1000 + 1000);
            assertThat(m.isFrozen()).isFalse();
            assertThat(m.classifier().isFrozen()).isFalse();
            assertThat(m.namedModules().values().stream().filter(x -> x instanceof BatchNorm2d).map(x -> (BatchNorm2d) x))
                    .isNotEmpty().allSatisfy(bn -> assertThat(bn.statsFrozen()).isTrue());
            // a new head after freezing is trainable, the backbone stays frozen
            m.replaceClassifier(3);
            assertThat(m.namedParameters().entrySet().stream().filter(e -> e.getValue().requiresGrad()).map(Map.Entry::getKey))
                    .containsExactly(w, b);
            m.unfreeze();
            assertThat(m.numTrainableParameters()).isEqualTo(m.numParameters());
        }
    }

    @Test
    void trainingAFrozenBackboneOnlyTouchesTheHead() {
        Init.manualSeed(9);
        ResNet m = Models.resnet18(4);
        m.freezeBackbone();
        m.train();
        Tensor bnMean = m.getBuffer("layer1.0.bn1.running_mean");
        float[] meanBefore = bnMean.toFloatArray();
        Tensor x = Tensor.randn(new SplittableRandom(3), 2, 3, 32, 32);
        Losses.crossEntropy(m.forward(x), new int[] {1, 3}).backward();
        assertThat(m.getParameter("fc.weight").grad()).isNotNull();
        assertThat(m.getParameter("fc.bias").grad()).isNotNull();
        assertThat(m.getParameter("conv1.weight").grad()).isNull();
        assertThat(m.getParameter("layer4.1.bn2.weight").grad()).isNull();
        assertThat(bnMean.toFloatArray()).containsExactly(meanBefore);
    }

    @Test
    void unknownNamesListTheKnownOnes() {
        assertThatThrownBy(() -> Models.create("resnet152", 10))
                .isInstanceOf(GraftException.class)
                .hasMessageContaining("resnet152")
                .hasMessageContaining("resnet18, resnet34, resnet50, resnet101, mobilenet_v2");
        assertThatThrownBy(() -> Models.create(null, 10)).isInstanceOf(GraftException.class).hasMessageContaining("known models");
        assertThatThrownBy(() -> Models.create("resnet18", 0)).isInstanceOf(GraftException.class);
        assertThat(Models.NAMES).containsExactly("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2");
    }
}
