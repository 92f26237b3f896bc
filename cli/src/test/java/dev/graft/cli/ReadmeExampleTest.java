package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.nn.AdaptiveAvgPool2d;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Flatten;
import dev.graft.nn.Linear;
import dev.graft.nn.MaxPool2d;
import dev.graft.nn.ReLU;
import dev.graft.nn.Sequential;
import dev.graft.ops.Losses;
import dev.graft.optim.SGD;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Java example of README.md, kept here so that it always compiles against the real API. */
class ReadmeExampleTest {
    @Test
    void readmeExampleTrainsOnlyTheHead() {
        // ---- README.md example: begin
        Sequential backbone = new Sequential(
                new Conv2d(3, 16, 3, 1, 1, false), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
                new Conv2d(16, 32, 3, 1, 1, false), new BatchNorm2d(32), new ReLU(),
                new AdaptiveAvgPool2d(1), new Flatten());
        Sequential model = new Sequential().add("backbone", backbone).add("head", new Linear(32, 10));

        backbone.freeze();   // no gradients, and its BatchNorm keeps its running statistics
        SGD sgd = new SGD(model.trainableParameters(), 0.01, 0.9, 1e-4);   // the head's weight and bias

        Tensor images = Tensor.randn(new java.util.Random(0), 8, 3, 32, 32);   // 8 RGB 32x32 images
        int[] labels = {0, 1, 2, 3, 4, 5, 6, 7};
        Map<String, float[]> before = values(model);   // (not in the README)
        Tensor loss = Losses.crossEntropy(model.forward(images), labels, 0.0);
        sgd.zeroGrad();
        loss.backward();
        sgd.step();
        // ---- README.md example: end

        assertThat(loss.item()).isFinite();
        assertThat(model.trainableParameters()).hasSize(2);
        Map<String, float[]> after = values(model);
        before.forEach((name, v) -> {
            if (name.startsWith("backbone.")) assertThat(after.get(name)).as(name).isEqualTo(v);
            else assertThat(after.get(name)).as(name).isNotEqualTo(v);
        });
    }

    @Test
    void readmeShowsThisCode() throws IOException {
        String readme = Files.readString(Path.of("../README.md"));
        Matcher block = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertThat(block.find()).as("a java block in README.md").isTrue();
        String source = Files.readString(Path.of("src/test/java/dev/graft/cli/ReadmeExampleTest.java"));
        block.group(1).lines().map(String::strip)
                .filter(line -> !line.isEmpty() && !line.startsWith("import "))
                .forEach(line -> assertThat(source).as("README line kept in this test").contains(line));
    }

    private static Map<String, float[]> values(Sequential model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.stateDict().forEach((k, t) -> out.put(k, t.toFloatArray()));
        return out;
    }
}
