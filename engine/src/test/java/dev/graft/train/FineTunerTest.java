package dev.graft.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.data.DataLoader;
import dev.graft.data.ImageFolder;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.nn.Init;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The two-phase schedule on a tiny synthetic image task with a ResNet-18 at 32×32. */
class FineTunerTest {
    static final int SIZE = 32;

    /** Class 0: bright top half; class 1: bright bottom half; plus noise. "bad" files fail to decode. */
    static final DataLoader.Decoder<ImageFolder.Sample> PLAIN = (s, rng) -> image(s, rng, false);
    static final DataLoader.Decoder<ImageFolder.Sample> AUGMENTED = (s, rng) -> image(s, rng, true);

    static float[] image(ImageFolder.Sample s, java.util.random.RandomGenerator rng, boolean flip) throws IOException {
        String text = Files.readString(s.path());
        if (text.startsWith("bad")) throw new IOException("not an image: " + s.path().getFileName());
        java.util.SplittableRandom noise = new java.util.SplittableRandom(text.hashCode());
        boolean mirrored = flip && rng.nextBoolean();
        float[] x = new float[3 * SIZE * SIZE];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < SIZE; y++)
                for (int xx = 0; xx < SIZE; xx++) {
                    boolean bright = (s.label() == 0) == (y < SIZE / 2);
                    int col = mirrored ? SIZE - 1 - xx : xx;
                    x[(c * SIZE + y) * SIZE + col] = (bright ? 1f : -1f) + (float) noise.nextGaussian() * 0.8f + xx * 0.01f;
                }
        return x;
    }

    static ImageFolder.Split dataset(Path dir, boolean withBad) throws IOException {
        for (String split : List.of("train", "val"))
            for (String c : List.of("a", "b")) {
                Path d = Files.createDirectories(dir.resolve(split).resolve(c));
                for (int i = 0; i < (split.equals("train") ? 10 : 4); i++) Files.writeString(d.resolve(i + ".png"), split + c + i);
            }
        if (withBad) Files.writeString(dir.resolve("train/a/corrupt.jpg"), "bad bytes");
        return ImageFolder.split(dir, 0, 0);
    }

    static ImageClassifier model() {
        Init.manualSeed(11);
        ImageClassifier m = Models.create("resnet18", 1000);
        m.replaceClassifier(2);
        return m;
    }

    static FineTuneOptions options() {
        return new FineTuneOptions().headEpochs(3).finetuneEpochs(3).batchSize(8).lrHead(1e-2).lrFinetune(1e-3).patience(0).dataThreads(2).seed(5);
    }

    private static Map<String, float[]> backboneState(ImageClassifier m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.stateDict().forEach((k, v) -> {
            if (!k.startsWith("fc.")) out.put(k, v.toFloatArray());
        });
        return out;
    }

    @Test
    void phaseOneLeavesTheBackboneBitIdenticalAndPhaseTwoChangesIt(@TempDir Path dir) throws IOException {
        ImageFolder.Split data = dataset(dir, true);
        ImageClassifier m = model();
        Map<String, float[]> before = backboneState(m);
        float[] headBefore = m.classifier().getParameter("weight").toFloatArray();
        List<Map<String, float[]>> afterHead = new ArrayList<>();
        var listener = new FineTuner.Listener() {
            @Override
            public void phaseStarted(String phase, int epochs, int batches) {
                if (phase.equals("finetune")) afterHead.add(backboneState(m));
            }
        };
        var result = new FineTuner(m, data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options(), listener, null).run(false);

        assertThat(afterHead).hasSize(1);
        for (var e : before.entrySet()) assertThat(java.util.Arrays.equals(afterHead.getFirst().get(e.getKey()), e.getValue())).as("bit-identical " + e.getKey()).isTrue();
        assertThat(m.classifier().getParameter("weight").toFloatArray()).isNotEqualTo(headBefore);
        Map<String, float[]> after = backboneState(m);
        assertThat(after.get("layer4.1.conv2.weight")).isNotEqualTo(before.get("layer4.1.conv2.weight"));
        assertThat(after.get("conv1.weight")).isNotEqualTo(before.get("conv1.weight"));
        // BatchNorm stayed in inference mode during fine-tuning: running statistics untouched
        assertThat(java.util.Arrays.equals(after.get("layer2.0.bn1.running_mean"), before.get("layer2.0.bn1.running_mean"))).as("running_mean untouched").isTrue();

        assertThat(result.phases()).extracting(FineTuner.PhaseResult::name).containsExactly("head", "finetune");
        assertThat(result.history()).hasSize(6);
        assertThat(result.skipped()).singleElement().satisfies(s -> assertThat(s.sample()).endsWith("corrupt.jpg"));
        assertThat(result.bestValAcc()).isGreaterThanOrEqualTo(0.75);
        assertThat(result.stoppedBecause()).isNull();
    }

    @Test
    void resumingAfterAnInterruptionReproducesTheUninterruptedRun(@TempDir Path dir) throws IOException {
        ImageFolder.Split data = dataset(dir.resolve("data"), false);
        var full = new FineTuner(model(), data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options(), null, dir.resolve("full")).run(false);

        for (String killIn : List.of("head", "finetune")) {
            Path state = dir.resolve("killed-" + killIn);
            var killer = new FineTuner.Listener() {
                @Override
                public void batchDone(String phase, int epoch, int batch, int batches, double loss, double acc) {
                    if (phase.equals(killIn) && epoch == 2 && batch == 2) throw new IllegalStateException("killed");
                }
            };
            assertThatThrownBy(() -> new FineTuner(model(), data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options(), killer, state).run(false))
                    .hasMessage("killed");
            var resumed = new FineTuner(model(), data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options(), null, state).run(true);
            assertThat(resumed.history()).hasSameSizeAs(full.history());
            for (int i = 0; i < full.history().size(); i++) {
                var a = full.history().get(i);
                var b = resumed.history().get(i);
                assertThat(List.of(b.phase(), b.epoch(), b.trainLoss(), b.trainAcc(), b.valLoss(), b.valAcc()))
                        .as(killIn + " epoch " + i).isEqualTo(List.of(a.phase(), a.epoch(), a.trainLoss(), a.trainAcc(), a.valLoss(), a.valAcc()));
            }
        }
        assertThatThrownBy(() -> new FineTuner(model(), data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options().lrHead(0.5), null,
                dir.resolve("full")).run(true)).isInstanceOf(GraftException.class).hasMessageContaining("other settings");
    }

    @Test
    void aNonFiniteLossStopsTheRunWithAMessage(@TempDir Path dir) throws IOException {
        ImageFolder.Split data = dataset(dir, false);
        ImageClassifier m = model();
        m.classifier().getParameter("weight").fill(Float.NaN);
        List<String> messages = new ArrayList<>();
        var listener = new FineTuner.Listener() {
            @Override
            public void message(String line) {
                messages.add(line);
            }
        };
        var r = new FineTuner(m, data, PLAIN, AUGMENTED, new int[] {3, SIZE, SIZE}, options(), listener, null).run(false);
        assertThat(r.stoppedBecause()).contains("NaN").contains("head");
        assertThat(messages).anyMatch(s -> s.contains("NaN"));
        assertThat(r.phases()).hasSize(1);
    }

    @Test
    void unfreezeSpecs() {
        ImageClassifier m = model();
        assertThat(Unfreezing.blocks(m).keySet()).startsWith("conv1", "bn1", "layer1.0").endsWith("layer4.1").hasSize(10);
        var groups = Unfreezing.apply(m, "2", false, 1e-3, 0.5);
        assertThat(groups).hasSize(3);
        assertThat(groups.get(2).lr()).isEqualTo(5e-4);
        assertThat(m.module("layer4.0.conv1").isFrozen()).isFalse();
        assertThat(m.module("layer3.1.conv1").isFrozen()).isTrue();
        Unfreezing.apply(m, "layer3", false, 1e-3, 1);
        assertThat(m.module("layer3.0.conv1").isFrozen()).isFalse();
        assertThat(m.module("layer2.1.conv1").isFrozen()).isTrue();
        assertThatThrownBy(() -> Unfreezing.apply(m, "layer9", false, 1e-3, 1)).isInstanceOf(GraftException.class).hasMessageContaining("no such layer");
        assertThatThrownBy(() -> Unfreezing.apply(m, "11", false, 1e-3, 1)).isInstanceOf(GraftException.class).hasMessageContaining("10 blocks");
        assertThat(Unfreezing.blockOf("features.14.conv.0.0")).isEqualTo("features.14");
    }
}
