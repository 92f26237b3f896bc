package dev.graft.zoo.tflite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.graph.GraphNode;
import dev.graft.models.Preprocessing;
import dev.graft.nn.Identity;
import dev.graft.nn.Linear;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.TensorInfo;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a TfliteModel says about the Coral files: metadata, preprocessing, weights, the classifier split. */
class TfliteModelTest {
    @Test
    void metadataOfTheQuantizedMobileNetV2() {
        TfliteModel m = TfliteGoldenTest.model("mobilenet_v2_1.0_224_quant.tflite");
        assertThat(m.format()).isEqualTo("tflite");
        assertThat(m.version()).isEqualTo(3);
        assertThat(m.path().getFileName().toString()).isEqualTo("mobilenet_v2_1.0_224_quant.tflite");
        TfliteTensor in = m.inputs().getFirst(), out = m.outputs().getFirst();
        assertThat(in.dtype()).isEqualTo("U8");
        assertThat(in.shape()).containsExactly(1, 224, 224, 3);
        assertThat(in.quantization().scale()).containsExactly(0.0078125f);
        assertThat(in.quantization().zeroPoint()).containsExactly(128L);
        assertThat(out.shape()).containsExactly(1, 1001);
        assertThat(out.quantization().scale()).containsExactly(1 / 256f);
        assertThat(m.operatorCounts()).containsEntry("CONV_2D", 36).containsEntry("DEPTHWISE_CONV_2D", 17).containsEntry("ADD", 10)
                .containsEntry("SOFTMAX", 1);
        assertThat(m.tensors()).hasSize(m.tfliteTensors().size());
        TensorInfo first = m.tensors().stream().filter(t -> t.name().equals("input")).findFirst().orElseThrow();
        assertThat(first.dtype()).isEqualTo("U8");
        String d = m.describe();
        assertThat(d).contains("format tflite, schema version 3").contains("input  'input' U8 [1, 224, 224, 3] scale 0.0078125 zero point 128")
                .contains("CONV_2D x36").contains("tensors (");
    }

    @Test
    void preprocessingFollowsTheInputQuantization() {
        // Coral uint8: scale 1/128, zero point 128 -> real = (p - 128) / 128, i.e. [-1, 1]
        Preprocessing p = TfliteGoldenTest.model("mobilenet_v1_0.5_160_quant.tflite").preprocessing().orElseThrow();
        assertThat(p.inputSize()).isEqualTo(160);
        assertThat(p.resizeSize()).isEqualTo(160);
        assertThat(p.cropSize()).isEqualTo(160);
        assertThat(p.resize()).isEqualTo(Preprocessing.Resize.STRETCH);
        assertThat(p.interpolation()).isEqualTo("bilinear");
        assertThat(p.mean()[0]).isCloseTo(128 / 255.0, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(p.std()[0]).isCloseTo(128 / 255.0, org.assertj.core.data.Offset.offset(1e-12));
        for (int pixel : new int[] {0, 1, 127, 128, 200, 255}) {
            double real = (pixel / 255.0 - p.mean()[0]) / p.std()[0];
            assertThat(real).isCloseTo((pixel - 128) / 128.0, org.assertj.core.data.Offset.offset(1e-9));
        }
        // float model: the TF MobileNet convention p / 127.5 - 1
        Preprocessing f = TfliteGoldenTest.model("tflite_support/mobilenet_v1_0.25_224_1_default_1.tflite").preprocessing().orElseThrow();
        assertThat(f.mean()).containsExactly(0.5, 0.5, 0.5);
        assertThat(f.std()).containsExactly(0.5, 0.5, 0.5);
        assertThat(f.inputSize()).isEqualTo(224);
        // the head's input is a feature map, not an image
        assertThat(TfliteGoldenTest.model("mobilenet_quant_v1_224_head_layers.tflite").preprocessing()).isEmpty();
    }

    @Test
    void stateDictHoldsDequantizedWeightsInGraftLayout() {
        TfliteModel m = TfliteGoldenTest.model("mobilenet_v1_0.25_128_quant.tflite");
        GraphModule g = m.graph().orElseThrow();
        Map<String, Tensor> sd = m.stateDict();
        assertThat(sd.keySet()).isEqualTo(g.stateDict().keySet());
        String first = g.moduleName(g.nodes().stream().filter(n -> n.op().equals("conv2d")).findFirst().orElseThrow().name());
        Tensor w = sd.get(first + ".weight");
        assertThat(w.shape()).containsExactly(8, 3, 3, 3); // OIHW from the file's OHWI [8, 3, 3, 3]
        // the same element read straight from the file: uint8 OHWI, per-tensor scale and zero point
        TfliteTensor t = m.tfliteTensors().stream().filter(x -> x.name().contains("Conv2d_0/weights")).findFirst().orElseThrow();
        java.nio.ByteBuffer data = m.data(t);
        float scale = t.quantization().scale()[0];
        long zp = t.quantization().zeroPoint()[0];
        int o = 5, kh = 2, kw = 1, i = 2;
        float expected = (float) ((double) scale * ((data.get(((o * 3 + kh) * 3 + kw) * 3 + i) & 0xFF) - zp));
        assertThat((float) w.get(o, i, kh, kw)).isEqualTo(expected);
        // depthwise: [1, KH, KW, C] becomes [C, 1, KH, KW] with groups C
        GraphNode dw = g.nodes().stream().filter(n -> n.op().equals("conv2d") && n.intAttr("groups") > 1).findFirst().orElseThrow();
        assertThat(sd.get(g.moduleName(dw.name()) + ".weight").shape()).containsExactly(dw.intAttr("out"), 1, 3, 3);
        assertThat(g.isTraining()).isFalse();
    }

    @Test
    void classifierSplitsAtTheGlobalPoolingAndDropsTheSoftmax() {
        TfliteModel m = TfliteGoldenTest.model("mobilenet_v1_0.25_128_quant.tflite");
        GraphClassifier c = m.classifier();
        assertThat(c.architecture()).isEqualTo("mobilenet_v1_0.25_128_quant");
        assertThat(c.numFeatures()).isEqualTo(256);
        assertThat(c.numClasses()).isEqualTo(1001);
        assertThat(c.classifier()).isInstanceOf(Linear.class);
        assertThat(c.preprocessing()).isEqualTo(m.preprocessing().orElseThrow());
        Tensor x = TfliteImages.input(TestData.zoo("cat.bmp"), c.preprocessing());
        float[] logits = TfliteImages.run(c, x);
        float[] probs = TfliteImages.run(m.graph().orElseThrow(), x);
        assertThat(logits).hasSize(1001);
        // softmax(logits) == the graph's probabilities
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float v : logits) max = Math.max(max, v);
        for (float v : logits) sum += Math.exp(v - max);
        for (int k = 0; k < 1001; k += 50) assertThat(Math.exp(logits[k] - max) / sum).isCloseTo(probs[k], org.assertj.core.data.Offset.offset(1e-5));
        Linear head = c.replaceClassifier(5);
        assertThat(head.outFeatures()).isEqualTo(5);
        assertThat(TfliteImages.run(c, x)).hasSize(5);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"mobilenet_v1_0.5_160_quant.tflite, 512", "mobilenet_v2_1.0_224_quant.tflite, 1280",
        "tf2_mobilenet_v2_1.0_224_ptq.tflite, 1280", "tflite_support/mobilenet_v1_0.25_224_quant.tflite, 256",
        "tflite_support/mobilenet_v1_0.25_224_1_default_1.tflite, 256"})
    void everyZooClassifierSplits(String file, int features) {
        GraphClassifier c = TfliteGoldenTest.model(file).classifier();
        assertThat(c.numFeatures()).isEqualTo(features);
        assertThat(c.numClasses()).isEqualTo(1001);
        assertThat(c.backbone().nodes().getLast().op()).isEqualTo("globalavgpool");
    }

    @Test
    void classifierOfAHeadlessEmbeddingExtractorIsAnIdentity() {
        TfliteModel m = TfliteGoldenTest.model("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite");
        GraphClassifier c = m.classifier();
        assertThat(c.classifier()).isInstanceOf(Identity.class);
        assertThat(c.numFeatures()).isEqualTo(1024);
        Linear head = c.replaceClassifier(3);
        assertThat(head.inFeatures()).isEqualTo(1024);
        Tensor x = Tensor.zeros(2, 3, 224, 224);
        assertThat(TfliteImages.run(c, x)).hasSize(6);
    }

    @Test
    void classifierNeedsAnImageInput() {
        TfliteModel head = TfliteGoldenTest.model("mobilenet_quant_v1_224_head_layers.tflite");
        assertThatThrownBy(head::classifier).isInstanceOf(ImportException.class)
                .hasMessageStartingWith("mobilenet_quant_v1_224_head_layers.tflite: the model's input").hasMessageContaining("not one RGB image");
    }
}
