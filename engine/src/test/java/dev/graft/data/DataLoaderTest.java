package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataLoaderTest {
    /** Sample i decodes to {i, a random number}; sample 7 fails. */
    private static DataLoader<Integer> loader(int threads, int prefetch) {
        List<Integer> samples = IntStream.range(0, 23).boxed().toList();
        return new DataLoader<>(samples, i -> i % 3, (i, rng) -> {
            if (i == 7) throw new IOException("sample 7 is corrupt");
            Thread.sleep(i % 4); // finish out of order
            return new float[] {i, rng.nextFloat()};
        }, new int[] {2}, 5, true, 42, threads, prefetch);
    }

    private static List<float[]> run(DataLoader<Integer> d, int epoch) {
        List<float[]> out = new ArrayList<>();
        for (var b : d.epoch(epoch)) {
            float[] x = b.inputs().toFloatArray();
            assertThat(b.inputs().shape()).containsExactly(b.size(), 2);
            for (int i = 0; i < b.size(); i++) {
                assertThat(b.labels()[i]).isEqualTo(((int) x[2 * i]) % 3);
                out.add(new float[] {x[2 * i], x[2 * i + 1]});
            }
        }
        return out;
    }

    @Test
    void sameBatchesForAnyThreadCountAndSkipsBadSamples() {
        List<float[]> one, four, otherEpoch;
        try (var a = loader(1, 1); var b = loader(4, 3)) {
            one = run(a, 0);
            four = run(b, 0);
            otherEpoch = run(b, 1);
            assertThat(a.skipped()).singleElement().satisfies(s -> assertThat(s.reason()).contains("sample 7 is corrupt"));
            assertThat(a.batchesPerEpoch()).isEqualTo(5);
        }
        assertThat(one).hasSize(22);
        for (int i = 0; i < one.size(); i++) assertThat(four.get(i)).containsExactly(one.get(i));
        assertThat(one.stream().map(f -> (int) f[0]).toList()).doesNotContain(7).isNotEqualTo(IntStream.range(0, 23).filter(i -> i != 7).boxed().toList());
        assertThat(otherEpoch.stream().map(f -> f[0]).toList()).isNotEqualTo(one.stream().map(f -> f[0]).toList());
    }

    @Test
    void imageFolderLayouts(@TempDir Path dir) throws IOException {
        for (String split : List.of("train", "val"))
            for (String c : List.of("bees", "ants")) {
                Files.createDirectories(dir.resolve(split).resolve(c));
                Files.writeString(dir.resolve(split).resolve(c).resolve("a b.JPG"), "x");
                Files.writeString(dir.resolve(split).resolve(c).resolve("notes.txt"), "x");
            }
        var s = ImageFolder.split(dir, 0, 1);
        assertThat(s.train().classes()).containsExactly("ants", "bees");
        assertThat(s.train().size()).isEqualTo(2);
        assertThat(s.val().samples().get(1).label()).isEqualTo(1);

        Files.createDirectories(dir.resolve("flat/cats"));
        Files.createDirectories(dir.resolve("flat/dogs"));
        for (int i = 0; i < 10; i++) {
            Files.writeString(dir.resolve("flat/cats/" + i + ".png"), "x");
            Files.writeString(dir.resolve("flat/dogs/" + i + ".png"), "x");
        }
        var h = ImageFolder.split(dir.resolve("flat"), 0.2, 3);
        assertThat(h.train().classCounts()).containsExactly(8, 8);
        assertThat(h.val().classCounts()).containsExactly(2, 2);
        assertThatThrownBy(() -> ImageFolder.split(dir.resolve("flat"), 0, 3)).isInstanceOf(GraftException.class).hasMessageContaining("--val-split");

        Files.createDirectories(dir.resolve("flat/empty"));
        assertThatThrownBy(() -> ImageFolder.scan(dir.resolve("flat"))).isInstanceOf(GraftException.class)
                .hasMessageContaining("empty").hasMessageContaining("holds no images");
        Files.createDirectories(dir.resolve("one/only"));
        Files.writeString(dir.resolve("one/only/x.jpg"), "x");
        Files.writeString(dir.resolve("one/only/y.jpg"), "x");
        assertThatThrownBy(() -> ImageFolder.split(dir.resolve("one"), 0.5, 3)).isInstanceOf(GraftException.class).hasMessageContaining("single class");
        assertThatThrownBy(() -> ImageFolder.split(dir.resolve("missing"), 0.5, 3)).isInstanceOf(GraftException.class).hasMessageContaining("does not exist");
    }
}
