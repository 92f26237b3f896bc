package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.models.Preprocessing;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The whole hymenoptera training folder (245 files, among them a palette GIF placeholder, a
 * {@code .jpeg} and a name with a space) through the training decoder in a {@link DataLoader}.
 * Skipped without the shared data folder (failed on CI).
 */
class ImagesHymenopteraTest {
    @Test
    void everyTrainingImageDecodes() {
        Path train = TestData.dir().resolve("hymenoptera").resolve("train");
        ImageFolder folder = ImageFolder.scan(train);
        assertThat(folder.classes()).containsExactly("ants", "bees");
        Preprocessor decoder = Preprocessor.train(Preprocessing.IMAGENET);
        int seen = 0;
        try (DataLoader<ImageFolder.Sample> d = new DataLoader<>(folder.samples(), ImageFolder.Sample::label, decoder,
                decoder.sampleShape(), 64, true, 1, 2, 2)) {
            for (var batch : d.epoch(0)) {
                assertThat(batch.inputs().shape()).containsExactly(batch.size(), 3, 224, 224);
                for (float v : batch.inputs().toFloatArray()) {
                    if (!(v >= -2.2f && v <= 2.7f)) throw new AssertionError("value " + v + " outside the normalized range");
                }
                seen += batch.size();
            }
            System.out.printf("hymenoptera/train: %d files, %d decoded, skipped %s%n", folder.size(), seen, d.skipped());
            assertThat(d.skipped()).isEmpty();
        }
        // 245 files, of which one is a GIF placeholder that ImageFolder (like torchvision) does not take as a sample
        assertThat(seen).isEqualTo(folder.size()).isEqualTo(244);
    }
}
