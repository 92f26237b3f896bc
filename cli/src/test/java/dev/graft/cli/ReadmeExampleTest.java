package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.data.ImageFolder;
import dev.graft.data.Preprocessor;
import dev.graft.models.ImageClassifier;
import dev.graft.nn.Init;
import dev.graft.train.FineTuneOptions;
import dev.graft.train.FineTuner;
import dev.graft.zoo.Checkpoint;
import dev.graft.zoo.Pretrained;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java example of README.md, kept here so that it always compiles and runs against the real API. */
class ReadmeExampleTest {
    // ---- README.md example: begin
    static double fineTune(Path data, Path weights, FineTuneOptions options, Path out) {
        ImageClassifier model = Pretrained.classifier(Pretrained.open(weights), null);   // .tflite, .onnx, .pth, .safetensors
        ImageFolder.Split split = ImageFolder.split(data, 0.2, options.seed());          // train/ + val/ folders
        Init.manualSeed(options.seed());                                                // reproducible head weights
        model.replaceClassifier(split.train().classes().size());                        // the new head
        Preprocessor plain = Preprocessor.eval(model.preprocessing());
        Preprocessor augmented = Preprocessor.train(model.preprocessing());
        var saveBest = new FineTuner.Listener() {
            @Override
            public void newBest(FineTuner.EpochMetrics m, ImageClassifier best) {
                Checkpoint.save(out, best, split.train().classes());
            }
        };
        FineTuner.Result result = new FineTuner(model, split, plain, augmented, plain.sampleShape(), options, saveBest, null).run(false);
        return result.bestValAcc();
    }
    // fineTune(Path.of("../shared/data/hymenoptera"), Path.of("../shared/data/zoo/mobilenet_v2_1.0_224_quant.tflite"),
    //          new FineTuneOptions().seed(1), Path.of("ants-vs-bees"));
    // ---- README.md example: end

    @Test
    void readmeExampleFineTunesAndSavesTheBestModel(@TempDir Path tmp) throws IOException {
        Path data = FinetuneCommandTest.smallDataset(tmp.resolve("data"), 5);
        Path weights = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        double best = fineTune(data, weights, new FineTuneOptions().headEpochs(2).finetuneEpochs(1).batchSize(4).seed(1), tmp.resolve("out"));
        assertThat(best).isBetween(0.0, 1.0);
        Checkpoint.Loaded loaded = Checkpoint.load(tmp.resolve("out"));
        assertThat(loaded.classes()).containsExactly("ants", "bees");
        assertThat(loaded.model().numClasses()).isEqualTo(2);
    }

    @Test
    void readmeShowsThisCode() throws IOException {
        String readme = Files.readString(Path.of("../README.md"));
        Matcher block = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertThat(block.find()).as("a java block in README.md").isTrue();
        String source = Files.readString(Path.of("src/test/java/dev/graft/cli/ReadmeExampleTest.java"));
        assertThat(block.group(1).lines().filter(l -> !l.isBlank()).count()).as("lines of the README example").isLessThanOrEqualTo(20);
        block.group(1).lines().map(String::strip)
                .filter(line -> !line.isEmpty() && !line.startsWith("import "))
                .forEach(line -> assertThat(source).as("README line kept in this test").contains(line));
    }
}
