package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluation and training transforms of {@link Preprocessor}. */
class ImagesPreprocessorTest {
    @TempDir
    Path tmp;

    private static final Preprocessing SMALL = new Preprocessing(32, 40, 32, new double[] {0.485, 0.456, 0.406},
            new double[] {0.229, 0.224, 0.225}, "bilinear");

    /** A 90x60 image with a gradient in R, a different one in G, and texture in B. */
    private static RgbImage photo() {
        int w = 90, h = 60;
        byte[] b = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                b[o] = (byte) (x * 255 / (w - 1));
                b[o + 1] = (byte) (y * 255 / (h - 1));
                b[o + 2] = (byte) (((x / 5 + y / 5) % 2) * 200);
            }
        return new RgbImage(w, h, b);
    }

    @Test
    void trainingTransformIsDeterministicPerSeed() {
        Preprocessor train = Preprocessor.train(SMALL);
        RgbImage img = photo();
        float[] a = train.apply(img, new SplittableRandom(DataLoader.mix(7, 0, 3)));
        float[] b = train.apply(img, new SplittableRandom(DataLoader.mix(7, 0, 3)));
        assertThat(a).hasSize(3 * 32 * 32).containsExactly(b);
        int differing = 0;
        for (int s = 0; s < 10; s++)
            if (!Arrays.equals(a, train.apply(img, new SplittableRandom(DataLoader.mix(7, 1, s))))) differing++;
        assertThat(differing).as("other seeds give other crops").isGreaterThanOrEqualTo(9);
    }

    @Test
    void trainingFlipsAboutHalfTheTime() {
        Preprocessor train = Preprocessor.train(SMALL);
        RgbImage img = photo();
        int flipped = 0, n = 400;
        for (int s = 0; s < n; s++) {
            RgbImage x = train.trainPixels(img, new SplittableRandom(s));
            // R grows left to right in the source; a flipped crop has it decreasing.
            if (x.get(0, 16, 0) > x.get(31, 16, 0)) flipped++;
        }
        assertThat(flipped).isBetween(n / 2 - 50, n / 2 + 50);
    }

    @Test
    void randomResizedCropStaysInsideAndCoversTheScaleRange() {
        double minArea = 1, maxArea = 0;
        for (int s = 0; s < 2000; s++) {
            int[] box = Preprocessor.randomResizedCrop(500, 375, new SplittableRandom(s));
            assertThat(box[0]).isGreaterThanOrEqualTo(0);
            assertThat(box[1]).isGreaterThanOrEqualTo(0);
            assertThat(box[0] + box[2]).isLessThanOrEqualTo(500);
            assertThat(box[1] + box[3]).isLessThanOrEqualTo(375);
            double area = (double) box[2] * box[3] / (500 * 375);
            double ratio = (double) box[2] / box[3];
            assertThat(ratio).isBetween(0.74, 1.35);
            minArea = Math.min(minArea, area);
            maxArea = Math.max(maxArea, area);
        }
        assertThat(minArea).isLessThan(0.1);
        assertThat(maxArea).isGreaterThan(0.7);
        // A strip too thin for any random crop falls back to the largest central 4:3 region.
        int[] strip = Preprocessor.randomResizedCrop(1000, 10, new SplittableRandom(1));
        assertThat(strip).containsExactly(493, 0, 13, 10);
    }

    @Test
    void evalTransformIgnoresTheGeneratorAndStretchModeStretches() {
        Preprocessor eval = Preprocessor.eval(SMALL);
        RgbImage img = photo();
        assertThat(eval.apply(img, new SplittableRandom(1))).containsExactly(eval.apply(img, new SplittableRandom(2)));
        // Shorter side: 90x60 → 60x40 → center 32x32 keeps x from 14 to 46 of 60, so R does not reach 0 or 255.
        RgbImage kept = eval.evalPixels(img);
        assertThat(kept.get(0, 16, 0)).isGreaterThan(40);
        Preprocessing stretch = new Preprocessing(32, 32, 32, SMALL.mean(), SMALL.std(), "bilinear", Preprocessing.Resize.STRETCH);
        RgbImage all = Preprocessor.eval(stretch).evalPixels(img);
        assertThat(all.width()).isEqualTo(32);
        assertThat(all.get(0, 16, 0)).isLessThan(10);
        assertThat(all.get(31, 16, 0)).isGreaterThan(245);
        // A crop smaller than the input is resized to the input size.
        Preprocessing upscale = new Preprocessing(48, 40, 32, SMALL.mean(), SMALL.std(), "bicubic");
        assertThat(Preprocessor.eval(upscale).apply(img, null)).hasSize(3 * 48 * 48);
        assertThat(Preprocessor.eval(upscale).sampleShape()).containsExactly(3, 48, 48);
    }

    @Test
    void singleFileBecomesABatchOfOne() throws IOException {
        BufferedImage bi = new BufferedImage(70, 50, BufferedImage.TYPE_3BYTE_BGR);
        Path f = tmp.resolve("one.png");
        ImageIO.write(bi, "png", f.toFile());
        Tensor t = Preprocessor.eval(SMALL).file(f);
        assertThat(t.shape()).containsExactly(1, 3, 32, 32);
        assertThat(t.toFloatArray()[0]).isCloseTo((float) (-0.485 / 0.229), org.assertj.core.data.Offset.offset(1e-5f));
        Path bad = tmp.resolve("bad.jpg");
        Files.writeString(bad, "nope");
        assertThatThrownBy(() -> Preprocessor.eval(SMALL).file(bad)).isInstanceOf(GraftException.class).hasMessageContaining("bad.jpg");
        assertThatThrownBy(() -> Preprocessor.eval(new Preprocessing(32, 40, 32, SMALL.mean(), SMALL.std(), "lanczos")))
                .isInstanceOf(GraftException.class).hasMessageContaining("lanczos");
    }

    @Test
    void dataLoaderSkipsUndecodableFilesAndIsReproducible() throws IOException {
        for (String cls : new String[] {"a", "b"}) {
            Files.createDirectories(tmp.resolve(cls));
            for (int i = 0; i < 3; i++) ImageIO.write(new BufferedImage(50 + i, 40, BufferedImage.TYPE_3BYTE_BGR), "png", tmp.resolve(cls + "/" + i + ".png").toFile());
        }
        Files.writeString(tmp.resolve("b/broken.jpg"), "not a jpeg");
        ImageFolder folder = ImageFolder.scan(tmp);
        Preprocessor train = Preprocessor.train(SMALL);
        float[] first, second;
        try (DataLoader<ImageFolder.Sample> d = new DataLoader<>(folder.samples(), ImageFolder.Sample::label, train, train.sampleShape(), 4, true, 5, 2, 2)) {
            first = stack(d, 0);
            second = stack(d, 0);
            assertThat(d.skipped()).hasSize(1);
            assertThat(d.skipped().getFirst().sample()).endsWith("broken.jpg");
            assertThat(d.skipped().getFirst().reason()).contains("broken.jpg");
        }
        assertThat(first).hasSize(6 * 3 * 32 * 32).containsExactly(second);
    }

    private static float[] stack(DataLoader<ImageFolder.Sample> d, int epoch) {
        java.util.List<float[]> parts = new java.util.ArrayList<>();
        for (var b : d.epoch(epoch)) parts.add(b.inputs().toFloatArray());
        int n = parts.stream().mapToInt(p -> p.length).sum(), o = 0;
        float[] all = new float[n];
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
        }
        return all;
    }
}
