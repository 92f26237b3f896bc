package dev.graft.zoo.tflite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.graph.GraphModule;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The imported float graphs against TensorFlow Lite's own outputs (zoo/golden, made with the reference
 * kernels) and against the classifications the Coral projects' tests assert (zoo/EXPECTED.md), with
 * libcoral's preprocessing.
 */
class TfliteGoldenTest {
    private static final Map<String, TfliteModel> MODELS = new ConcurrentHashMap<>();

    static TfliteModel model(String file) {
        Path p = TestData.zoo(file);
        return MODELS.computeIfAbsent(file, f -> TfliteModel.read(p));
    }

    static float[] probabilities(String modelFile, String image) {
        TfliteModel m = model(modelFile);
        Preprocessing p = m.preprocessing().orElseThrow();
        Tensor x = TfliteImages.input(TestData.zoo(image), p);
        return TfliteImages.run(m.graph().orElseThrow(), x);
    }

    /** The float MobileNetV1 0.25: an exact importer reproduces TFLite's float32 probabilities. */
    @ParameterizedTest
    @CsvSource({"resized_cat.bmp, resized_cat", "tflite_support/burger-224.png, burger-224"})
    void floatModelMatchesTfliteToFloatPrecision(String image, String golden) {
        String file = "tflite_support/mobilenet_v1_0.25_224_1_default_1.tflite";
        float[] ours = probabilities(file, image);
        float[] expected = TfliteImages.golden(TestData.zoo("golden/mobilenet_v1_0.25_224_1_default_1__" + golden + ".txt"));
        assertThat(ours).hasSize(1001);
        double diff = TfliteImages.maxAbsDiff(ours, expected);
        System.out.printf("golden %s on %s: max abs diff %.3g%n", file, image, diff);
        assertThat(diff).isLessThan(1e-5);
        assertThat(TfliteImages.argmax(ours)).isEqualTo(TfliteImages.argmax(expected));
    }

    /**
     * uint8 models run in float: the scores differ from the integer kernels' by quantization error
     * (a few hundredths), the top-1 does not.
     */
    @ParameterizedTest
    @CsvSource({
        "mobilenet_v2_1.0_224_quant.tflite, resized_cat.bmp, mobilenet_v2_1.0_224_quant__resized_cat, 0.06",
        "mobilenet_v2_1.0_224_quant.tflite, tflite_support/burger-224.png, mobilenet_v2_1.0_224_quant__burger-224, 0.06",
        "tf2_mobilenet_v2_1.0_224_ptq.tflite, resized_cat.bmp, tf2_mobilenet_v2_1.0_224_ptq__resized_cat, 0.08",
        "tf2_mobilenet_v2_1.0_224_ptq.tflite, tflite_support/burger-224.png, tf2_mobilenet_v2_1.0_224_ptq__burger-224, 0.08",
        "tflite_support/mobilenet_v1_0.25_224_quant.tflite, resized_cat.bmp, mobilenet_v1_0.25_224_quant__resized_cat, 0.08",
        "tflite_support/mobilenet_v1_0.25_224_quant.tflite, tflite_support/burger-224.png, mobilenet_v1_0.25_224_quant__burger-224, 0.06"})
    void quantizedModelsAreCloseToTheIntegerKernels(String file, String image, String golden, double tolerance) {
        float[] ours = probabilities(file, image);
        float[] raw = TfliteImages.golden(TestData.zoo("golden/" + golden + ".txt"));
        float[] expected = new float[raw.length];
        for (int i = 0; i < raw.length; i++) expected[i] = raw[i] / 256f;
        double diff = TfliteImages.maxAbsDiff(ours, expected);
        System.out.printf("golden %s on %s: max abs diff %.4f, top-1 %d (%.3f) vs %d (%.3f)%n", file, image, diff, TfliteImages.argmax(ours),
                ours[TfliteImages.argmax(ours)], TfliteImages.argmax(expected), expected[TfliteImages.argmax(expected)]);
        assertThat(diff).isLessThan(tolerance);
        assertThat(TfliteImages.argmax(ours)).isEqualTo(TfliteImages.argmax(expected));
    }

    /**
     * EXPECTED.md section 1 (libcoral's rule: the index among the top k) and confident rows of section 2
     * (score above 0.8: top-1), with libcoral's bilinear preprocessing.
     */
    @ParameterizedTest
    @CsvSource({
        // libcoral model_test_cases.bzl
        "mobilenet_v1_0.25_128_quant.tflite, cat.bmp, 283, 3",
        "mobilenet_v1_0.5_160_quant.tflite, cat.bmp, 286, 1",
        "mobilenet_v2_1.0_224_quant.tflite, cat.bmp, 286, 1",
        "tf2_mobilenet_v2_1.0_224_ptq.tflite, cat.bmp, 286, 1",
        // section 2, confident rows
        "mobilenet_v2_1.0_224_quant.tflite, bird.bmp, 20, 1",
        "mobilenet_v1_0.5_160_quant.tflite, bird.bmp, 20, 1",
        "mobilenet_v1_0.5_160_quant.tflite, sunflower.bmp, 986, 1",
        "mobilenet_v1_0.25_128_quant.tflite, tflite_support/burger.jpg, 934, 1",
        "tf2_mobilenet_v2_1.0_224_ptq.tflite, dragonfly.bmp, 320, 1",
        "tflite_support/mobilenet_v1_0.25_224_quant.tflite, bird.bmp, 20, 1",
        "tflite_support/mobilenet_v1_0.25_224_1_default_1.tflite, sunflower.bmp, 986, 1"})
    void classifiesAsTheCoralTestsExpect(String file, String image, int expected, int k) {
        float[] ours = probabilities(file, image);
        int[] top = TfliteImages.topK(ours, k);
        System.out.printf("%s on %s: top-%d %s, score of %d = %.3f%n", file, image, k, java.util.Arrays.toString(top), expected, ours[expected]);
        assertThat(top).contains(expected);
    }

    /** MobileNetV1 1.0 224 as the chain of the embedding extractor and the head, as EXPECTED.md's first table. */
    @ParameterizedTest
    @CsvSource({"cat.bmp, 286", "bird.bmp, 20", "resized_cat.bmp, 286"})
    void embeddingExtractorThenHead(String image, int expected) {
        TfliteModel extractor = model("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite");
        TfliteModel head = model("mobilenet_quant_v1_224_head_layers.tflite");
        Tensor x = TfliteImages.input(TestData.zoo(image), extractor.preprocessing().orElseThrow());
        GraphModule g = extractor.graph().orElseThrow();
        float[] features = TfliteImages.run(g, x);
        assertThat(features).hasSize(1024);
        float[] probs = TfliteImages.run(head.graph().orElseThrow(), Tensor.of(features, 1, 1024, 1, 1));
        System.out.printf("chain on %s: top-1 %d (%.3f)%n", image, TfliteImages.argmax(probs), probs[TfliteImages.argmax(probs)]);
        assertThat(TfliteImages.argmax(probs)).isEqualTo(expected);
        if (image.equals("resized_cat.bmp")) {
            float[] raw = TfliteImages.golden(TestData.zoo("golden/mobilenet_v1_1.0_224_quant_embedding_extractor__resized_cat.txt"));
            double dot = 0, a = 0, b = 0;
            for (int i = 0; i < raw.length; i++) {
                double e = 0.023528477 * raw[i];
                dot += e * features[i];
                a += e * e;
                b += (double) features[i] * features[i];
            }
            double cosine = dot / Math.sqrt(a * b);
            float[] chain = TfliteImages.golden(TestData.zoo("golden/mobilenet_v1_1.0_224_quant_chain__resized_cat.txt"));
            for (int i = 0; i < chain.length; i++) chain[i] /= 256f;
            double diff = TfliteImages.maxAbsDiff(probs, chain);
            System.out.printf("embedding cosine %.5f, chain max abs diff %.4f%n", cosine, diff);
            assertThat(cosine).isGreaterThan(0.99);
            assertThat(diff).isLessThan(0.06);
        }
    }
}
