package dev.graft.cli;

import dev.graft.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * A synthetic, learnable image-classification task made in memory: RGB images of one bar on a noisy
 * background, labelled by the bar's orientation, one of {@link #CLASSES} angles 22.5° apart (0°,
 * 22.5°, …, 157.5°), each jittered by a few degrees. Position, length, thickness and colours are
 * random, so a model must learn orientation, not a template. Everything comes from one seed.
 */
final class OrientedBars {
    static final int CLASSES = 8;
    private static final double STEP_DEGREES = 180.0 / CLASSES;
    private static final double JITTER_DEGREES = 4;
    private static final double NOISE = 0.15;

    private static final float MEAN = 0.4f, STD = 0.3f; // rough normalization of the pixel values

    final int count;
    final int size;
    final float[] images; // (count, 3, size, size), normalized
    final int[] labels;   // orientation class in [0, CLASSES)

    private OrientedBars(int count, int size, float[] images, int[] labels) {
        this.count = count;
        this.size = size;
        this.images = images;
        this.labels = labels;
    }

    static OrientedBars generate(int count, int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] images = new float[count * 3 * size * size];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            labels[i] = rng.nextInt(CLASSES);
            draw(rng, labels[i], size, images, i * 3 * size * size);
        }
        return new OrientedBars(count, size, images, labels);
    }

    private static void draw(SplittableRandom rng, int label, int size, float[] out, int offset) {
        double angle = Math.toRadians(label * STEP_DEGREES + rng.nextDouble(-JITTER_DEGREES, JITTER_DEGREES));
        double dx = Math.cos(angle), dy = -Math.sin(angle); // image rows grow downwards
        double cx = size * rng.nextDouble(0.35, 0.65), cy = size * rng.nextDouble(0.35, 0.65);
        double halfLength = size * rng.nextDouble(0.25, 0.42);
        double halfWidth = rng.nextDouble(0.6, 1.2);
        float[] bar = new float[3], background = new float[3];
        for (int c = 0; c < 3; c++) {
            bar[c] = (float) rng.nextDouble(0.45, 1.0);
            background[c] = (float) rng.nextDouble(0.0, 0.3);
        }
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                // Distance from the pixel centre to the bar's segment, then an anti-aliased edge.
                double px = x + 0.5 - cx, py = y + 0.5 - cy;
                double along = Math.clamp(px * dx + py * dy, -halfLength, halfLength);
                double distance = Math.hypot(px - along * dx, py - along * dy);
                float alpha = (float) Math.clamp(halfWidth + 0.5 - distance, 0.0, 1.0);
                for (int c = 0; c < 3; c++) {
                    float v = background[c] * (1 - alpha) + bar[c] * alpha + (float) (NOISE * rng.nextGaussian());
                    out[offset + c * plane + y * size + x] = (v - MEAN) / STD;
                }
            }
        }
    }

    /** The images at {@code order[from..to)} as a (to − from, 3, size, size) float32 tensor. */
    Tensor images(int[] order, int from, int to) {
        int per = 3 * size * size;
        float[] batch = new float[(to - from) * per];
        for (int i = from; i < to; i++) System.arraycopy(images, order[i] * per, batch, (i - from) * per, per);
        return Tensor.of(batch, to - from, 3, size, size);
    }

    /** The labels at {@code order[from..to)}, mapped through {@code relabel} (null: as they are). */
    int[] labels(int[] order, int from, int to, int[] relabel) {
        int[] out = new int[to - from];
        for (int i = from; i < to; i++) {
            int l = labels[order[i]];
            out[i - from] = relabel == null ? l : relabel[l];
        }
        return out;
    }
}
