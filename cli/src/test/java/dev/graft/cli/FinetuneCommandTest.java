package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code graft finetune}, {@code predict} and {@code evaluate} end to end on a small slice of the
 * hymenoptera data with the smallest Coral MobileNet (128×128), plus the errors a user meets first.
 */
class FinetuneCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A copy of the first {@code n} images per class of hymenoptera's train and val folders, plus a corrupt JPEG. */
    static Path smallDataset(Path dir, int n) throws IOException {
        Path src = TestData.dir("hymenoptera");
        for (String split : List.of("train", "val"))
            for (String c : List.of("ants", "bees")) {
                Path to = Files.createDirectories(dir.resolve(split).resolve(c));
                try (Stream<Path> files = Files.list(src.resolve(split).resolve(c))) {
                    for (Path f : files.filter(f -> f.toString().endsWith(".jpg")).sorted().limit(n).toList())
                        Files.copy(f, to.resolve(f.getFileName()));
                }
            }
        Files.write(dir.resolve("train/ants/corrupt.jpg"), new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, 1, 2, 3});
        return dir;
    }

    @Test
    void finetuneWritesCheckpointMetricsAndCurvesThenPredictAndEvaluateUseThem(@TempDir Path tmp) throws IOException {
        Path weights = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Path data = smallDataset(tmp.resolve("data"), 6);
        Path out = tmp.resolve("out");
        MainTest.Result r = MainTest.run("finetune", "--weights", weights.toString(), "--data", data.toString(), "--out", out.toString(),
                "--head-epochs", "3", "--finetune-epochs", "1", "--batch", "4", "--seed", "3", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("settings: {head_epochs=3", "lr_head=0.001", "unfreeze=all", "corrupt.jpg", "best val accuracy");

        JsonNode m = JSON.readTree(out.resolve("metrics.json").toFile());
        assertThat(m.path("model").asText()).isEqualTo("mobilenet_v1_0.25_128_quant");
        assertThat(m.path("classes").toString()).isEqualTo("[\"ants\",\"bees\"]");
        assertThat(m.path("phases")).hasSize(2);
        assertThat(m.path("phases").get(0).path("name").asText()).isEqualTo("head");
        assertThat(m.path("phases").get(1).path("name").asText()).isEqualTo("finetune");
        for (JsonNode p : m.path("phases"))
            assertThat(p.fieldNames()).toIterable().containsExactly("name", "epochs", "train_loss", "val_loss", "val_acc", "seconds");
        assertThat(m.path("best_val_acc").asDouble()).isBetween(0.0, 1.0);
        assertThat(m.path("skipped_images")).singleElement().satisfies(s -> assertThat(s.asText()).endsWith("corrupt.jpg"));
        assertThat(m.path("total_seconds").asDouble()).isPositive();
        byte[] png = Files.readAllBytes(out.resolve("curves.png"));
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');
        assertThat(out.resolve("model.safetensors")).isRegularFile();
        assertThat(out.resolve("model.json")).isRegularFile();
        try (Stream<Path> files = Files.list(out)) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".tmp") || n.startsWith("."));
        }

        Path image = data.resolve("val/bees").toFile().listFiles()[0].toPath();
        MainTest.Result p = MainTest.run("predict", "--checkpoint", out.toString(), "--json", "--topk", "2", image.toString());
        assertThat(p.code()).as(p.err()).isZero();
        JsonNode line = JSON.readTree(p.out().strip());
        assertThat(line.path("image").asText()).isEqualTo(image.toString());
        assertThat(line.path("top")).hasSize(2);
        assertThat(line.path("top").get(0).fieldNames()).toIterable().containsExactly("index", "label", "prob");
        double total = line.path("top").get(0).path("prob").asDouble() + line.path("top").get(1).path("prob").asDouble();
        assertThat(total).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));

        MainTest.Result e = MainTest.run("evaluate", "--checkpoint", out.toString(), "--data", data.toString(), "--json");
        assertThat(e.code()).as(e.err()).isZero();
        JsonNode ev = JSON.readTree(e.out().strip());
        assertThat(ev.path("images").asInt()).isEqualTo(12);
        long diagonal = ev.path("confusion").get(0).get(0).asLong() + ev.path("confusion").get(1).get(1).asLong();
        assertThat(ev.path("accuracy").asDouble()).isCloseTo(diagonal / 12.0, org.assertj.core.data.Offset.offset(1e-12));
        // the checkpoint holds the best model by validation accuracy: evaluating it on the same val folder gives that accuracy
        assertThat(ev.path("accuracy").asDouble()).isCloseTo(m.path("best_val_acc").asDouble(), org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void twoRunsWithTheSameSeedGiveTheSameHistory(@TempDir Path tmp) throws IOException {
        Path weights = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Path data = smallDataset(tmp.resolve("data"), 8);
        JsonNode[] history = new JsonNode[2];
        for (int run = 0; run < 2; run++) {
            Path out = tmp.resolve("out" + run);
            MainTest.Result r = MainTest.run("finetune", "--weights", weights.toString(), "--data", data.toString(), "--out", out.toString(),
                    "--head-epochs", "2", "--finetune-epochs", "2", "--batch", "4", "--seed", "9", "--no-progress");
            assertThat(r.code()).as(r.err()).isZero();
            history[run] = JSON.readTree(out.resolve("metrics.json").toFile()).path("history");
            for (JsonNode e : history[run]) ((com.fasterxml.jackson.databind.node.ObjectNode) e).remove("seconds");
        }
        assertThat(history[1]).isEqualTo(history[0]);
    }

    /**
     * {@code --device cuda} end to end — the TFLite graph moved to the CUDA backend, batches copied to it,
     * both phases, the checkpoint read back from device memory — on the kernel emulation
     * ({@code graft.cuda.emulate}), with convolutions in exact FP32: the same history as the CPU run,
     * up to float rounding.
     */
    @Test
    void finetuneOnCudaFollowsTheCpuRun(@TempDir Path tmp) throws IOException {
        if (!dev.graft.backend.cuda.CudaBackend.emulationAvailable()) {
            assertThat(System.getenv("CI")).as("CI builds the kernel emulation (it needs a C++ compiler)").isNotEqualTo("true");
            org.junit.jupiter.api.Assumptions.abort("no kernel emulation in this build (it needs a C++ compiler at build time)");
        }
        Path weights = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Path data = smallDataset(tmp.resolve("data"), 4);
        JsonNode[] history = new JsonNode[2];
        String[] devices = {"cpu", "cuda"};
        try {
            System.setProperty("graft.cuda.emulate", "true");
            System.setProperty("graft.cuda.tf32.conv", "false");
            for (int run = 0; run < 2; run++) {
                Path out = tmp.resolve("out-" + devices[run]);
                MainTest.Result r = MainTest.run("finetune", "--weights", weights.toString(), "--data", data.toString(), "--out",
                        out.toString(), "--head-epochs", "2", "--finetune-epochs", "1", "--batch", "4", "--seed", "5",
                        "--no-progress", "--device", devices[run]);
                assertThat(r.code()).as(r.err()).isZero();
                assertThat(r.err()).contains("device=" + (run == 0 ? "cpu" : "cuda:0"));
                assertThat(out.resolve("model.safetensors")).isRegularFile();
                history[run] = JSON.readTree(out.resolve("metrics.json").toFile()).path("history");
            }
        } finally {
            System.clearProperty("graft.cuda.emulate");
            System.clearProperty("graft.cuda.tf32.conv");
        }
        assertThat(history[1]).hasSameSizeAs(history[0]).hasSize(3);
        for (int e = 0; e < history[0].size(); e++) {
            JsonNode c = history[0].get(e), g = history[1].get(e);
            assertThat(g.path("phase").asText()).isEqualTo(c.path("phase").asText());
            for (String f : List.of("trainLoss", "valLoss"))
                assertThat(g.path(f).asDouble()).as(f + " of epoch " + e).isCloseTo(c.path(f).asDouble(),
                        org.assertj.core.data.Offset.offset(1e-3 * Math.max(1, Math.abs(c.path(f).asDouble()))));
            for (String f : List.of("trainAcc", "valAcc"))
                assertThat(g.path(f).asDouble()).as(f + " of epoch " + e).isEqualTo(c.path(f).asDouble());
        }
    }

    @Test
    void userErrorsAreOneLine(@TempDir Path tmp) throws IOException {
        MainTest.Result missing = MainTest.run("finetune", "--data", tmp.resolve("nope").toString(), "--weights", tmp.resolve("w.pth").toString());
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err().strip().lines()).singleElement().satisfies(l -> assertThat(l).startsWith("graft: ").contains("nope"));

        Path one = Files.createDirectories(tmp.resolve("one/train/cats"));
        Files.createDirectories(tmp.resolve("one/val/cats"));
        Files.write(one.resolve("a.jpg"), new byte[] {1});
        Files.write(tmp.resolve("one/val/cats/b.jpg"), new byte[] {1});
        MainTest.Result single = MainTest.run("finetune", "--data", tmp.resolve("one").toString());
        assertThat(single.code()).isEqualTo(1);
        assertThat(single.err().strip()).startsWith("graft: ").contains("single class").doesNotContain("\n");

        MainTest.Result noCheckpoint = MainTest.run("predict", "--checkpoint", tmp.toString(), "x.jpg");
        assertThat(noCheckpoint.code()).isEqualTo(1);
        assertThat(noCheckpoint.err().strip()).startsWith("graft: ").contains("not a Graft checkpoint");

        MainTest.Result cuda = MainTest.run("finetune", "--data", tmp.resolve("one").toString(), "--device", "cuda");
        assertThat(cuda.code()).isEqualTo(1);
        assertThat(cuda.err().strip()).startsWith("graft: ").contains("cuda");
    }
}
