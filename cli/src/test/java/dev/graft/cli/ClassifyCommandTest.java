package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.cli.MainTest.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code graft classify} on the Coral test models and images (labels from imagenet_labels.txt beside
 * them). The product resizes like PIL, not like TFLite's RESIZE_BILINEAR, so only the top-1 classes
 * upstream asserts are checked, with looser score bounds.
 */
class ClassifyCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<JsonNode> jsonLines(Result r) throws Exception {
        assertThat(r.code()).as(r.err()).isZero();
        return r.out().lines().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (Exception e) {
                throw new AssertionError("not JSON: " + l, e);
            }
        }).toList();
    }

    @Test
    void mobilenetV2QuantFindsTheChickadeeAndTheEgyptianCat() throws Exception {
        Path model = TestData.zoo("mobilenet_v2_1.0_224_quant.tflite");
        Path bird = TestData.zoo("bird.bmp"), cat = TestData.zoo("cat.bmp");
        List<JsonNode> rows = jsonLines(MainTest.run("classify", "--json", "--weights", model.toString(), bird.toString(), cat.toString()));
        assertThat(rows).hasSize(2);
        assertTop1(rows.get(0), bird, 20, "chickadee", 0.9);
        assertTop1(rows.get(1), cat, 286, "Egyptian cat", 0.6);
        assertThat(rows.get(0).get("top")).hasSize(5);
    }

    @Test
    void mobilenetV1HalfWidthFindsTheEgyptianCat() throws Exception {
        Path model = TestData.zoo("mobilenet_v1_0.5_160_quant.tflite");
        Path cat = TestData.zoo("cat.bmp");
        List<JsonNode> rows = jsonLines(MainTest.run("classify", "--json", "--topk", "3", "--weights", model.toString(), cat.toString()));
        assertTop1(rows.getFirst(), cat, 286, "Egyptian cat", 0.5);
        assertThat(rows.getFirst().get("top")).hasSize(3);
    }

    @Test
    void jsonLineHasExactlyTheDocumentedKeys() throws Exception {
        Path model = TestData.zoo("mobilenet_v1_0.5_160_quant.tflite");
        Path cat = TestData.zoo("cat.bmp");
        Result r = MainTest.run("classify", "--json", "--topk", "2", "--weights", model.toString(), cat.toString());
        JsonNode row = jsonLines(r).getFirst();
        assertThat(r.out()).startsWith("{\"image\": ").endsWith("}" + System.lineSeparator());
        assertThat(iterable(row.fieldNames())).containsExactly("image", "top");
        for (JsonNode t : row.get("top")) {
            assertThat(iterable(t.fieldNames())).containsExactly("index", "label", "prob");
            assertThat(t.get("index").isInt()).isTrue();
            assertThat(t.get("label").isTextual()).isTrue();
            assertThat(t.get("prob").isNumber()).isTrue();
        }
    }

    @Test
    void textOutputListsIndexProbabilityAndLabel() {
        Path model = TestData.zoo("mobilenet_v1_0.5_160_quant.tflite");
        Path cat = TestData.zoo("cat.bmp");
        Result r = MainTest.run("classify", "--topk", "1", "--weights", model.toString(), cat.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines().toList()).hasSize(2);
        assertThat(r.out()).contains(cat.toString() + ":").containsPattern("286\\s+0\\.\\d{4}\\s+Egyptian cat");
    }

    @Test
    void labelsFileAndIndexLabels(@TempDir Path tmp) throws Exception {
        Path model = TestData.zoo("mobilenet_v1_0.5_160_quant.tflite");
        Path cat = TestData.zoo("cat.bmp");
        Path copy = Files.copy(model, tmp.resolve("m.tflite")); // no imagenet_labels.txt beside it
        JsonNode row = jsonLines(MainTest.run("classify", "--json", "--weights", copy.toString(), cat.toString())).getFirst();
        assertThat(row.get("top").get(0).get("label").asText()).isEqualTo("286");

        Path labels = tmp.resolve("labels.txt");
        Files.write(labels, java.util.stream.IntStream.range(0, 1001).mapToObj(i -> "class " + i).toList());
        row = jsonLines(MainTest.run("classify", "--json", "--labels", labels.toString(), "--weights", copy.toString(), cat.toString())).getFirst();
        assertThat(row.get("top").get(0).get("label").asText()).isEqualTo("class 286");

        Files.write(labels, List.of("a", "b"));
        Result r = MainTest.run("classify", "--labels", labels.toString(), "--weights", copy.toString(), cat.toString());
        assertOneLineError(r, 1, "2 lines but the model has 1001 classes");
    }

    @Test
    void unreadableImageIsReportedAndTheOthersAreStillClassified(@TempDir Path tmp) throws Exception {
        Path model = TestData.zoo("mobilenet_v1_0.5_160_quant.tflite");
        Path cat = TestData.zoo("cat.bmp");
        Path junk = Files.write(tmp.resolve("junk.jpg"), new byte[] {1, 2, 3, 4});
        Result r = MainTest.run("classify", "--json", "--weights", model.toString(), junk.toString(), cat.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().lines().toList()).hasSize(1);
        assertThat(r.err()).startsWith("graft: ").contains("junk.jpg").doesNotContain("Exception", "\tat ");
        assertThat(r.out().lines().toList()).hasSize(1);
        assertThat(JSON.readTree(r.out()).get("image").asText()).isEqualTo(cat.toString());
    }

    @Test
    void missingWeightsAndBadTopkAreOneLineErrors() {
        assertOneLineError(MainTest.run("classify", "--weights", "no/such/model.tflite", "cat.bmp"), 1, "no/such/model.tflite");
        assertOneLineError(MainTest.run("classify", "--weights", "m.tflite", "--topk", "0", "cat.bmp"), 2, "--topk");
        assertOneLineError(MainTest.run("classify", "--weights", "m.tflite", "--topk", "many", "cat.bmp"), 2, "--topk");
        assertOneLineError(MainTest.run("classify", "--weights", "m.tflite"), 2, "IMAGE");
    }

    static void assertOneLineError(Result r, int code, String mentions) {
        assertThat(r.code()).as(r.err()).isEqualTo(code);
        assertThat(r.err().lines().toList()).as(r.err()).hasSize(1);
        assertThat(r.err()).startsWith("graft: ").contains(mentions).doesNotContain("Exception", "\tat ");
    }

    private static void assertTop1(JsonNode row, Path image, int index, String label, double minProb) {
        assertThat(row.get("image").asText()).isEqualTo(image.toString());
        JsonNode top = row.get("top").get(0);
        System.out.printf("%s: top-1 %d %s %.4f%n", image.getFileName(), top.get("index").asInt(), top.get("label").asText(), top.get("prob").asDouble());
        assertThat(top.get("index").asInt()).isEqualTo(index);
        assertThat(top.get("label").asText()).isEqualTo(label);
        assertThat(top.get("prob").asDouble()).isGreaterThan(minProb).isLessThanOrEqualTo(1.0);
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> list = new java.util.ArrayList<>();
        it.forEachRemaining(list::add);
        return list;
    }
}
