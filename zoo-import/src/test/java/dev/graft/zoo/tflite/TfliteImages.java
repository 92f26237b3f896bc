package dev.graft.zoo.tflite;

import dev.graft.autograd.Autograd;
import dev.graft.models.Preprocessing;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Test-only image preparation exactly as libcoral's classification tests do it (see EXPECTED.md): RGB
 * pixels, TFLite's RESIZE_BILINEAR in float32 (align_corners false, half_pixel_centers true), then
 * truncation to uint8; then the model's {@link Preprocessing} mean/std to get its NCHW float input.
 */
final class TfliteImages {
    private TfliteImages() {}

    /** RGB bytes (0..255) of an image file, row-major HWC. */
    static int[][][] load(Path file) {
        try {
            BufferedImage img = ImageIO.read(file.toFile());
            if (img == null) throw new IllegalArgumentException("ImageIO cannot decode " + file);
            int h = img.getHeight(), w = img.getWidth();
            int[][][] px = new int[h][w][3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    px[y][x][0] = (rgb >> 16) & 0xFF;
                    px[y][x][1] = (rgb >> 8) & 0xFF;
                    px[y][x][2] = rgb & 0xFF;
                }
            return px;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** TFLite's reference RESIZE_BILINEAR with half-pixel centres, in float32, truncated to uint8. */
    static int[][][] resizeBilinear(int[][][] in, int outH, int outW) {
        int inH = in.length, inW = in[0].length;
        if (inH == outH && inW == outW) return in;
        float hs = (float) inH / outH, ws = (float) inW / outW;
        int[][][] out = new int[outH][outW][3];
        for (int y = 0; y < outH; y++) {
            float iy = (y + 0.5f) * hs - 0.5f;
            int y0 = Math.max((int) Math.floor(iy), 0), y1 = Math.min((int) Math.ceil(iy), inH - 1);
            float dy = iy - y0;
            for (int x = 0; x < outW; x++) {
                float ix = (x + 0.5f) * ws - 0.5f;
                int x0 = Math.max((int) Math.floor(ix), 0), x1 = Math.min((int) Math.ceil(ix), inW - 1);
                float dx = ix - x0;
                for (int c = 0; c < 3; c++) {
                    float v = in[y0][x0][c] * (1 - dy) * (1 - dx) + in[y1][x0][c] * dy * (1 - dx) + in[y0][x1][c] * (1 - dy) * dx
                            + in[y1][x1][c] * dy * dx;
                    out[y][x][c] = Math.min(255, Math.max(0, (int) v));
                }
            }
        }
        return out;
    }

    /** The NCHW [1, 3, S, S] input for {@code p}: resize (stretch) to S, then (pixel / 255 − mean) / std. */
    static Tensor input(Path image, Preprocessing p) {
        int s = p.inputSize();
        int[][][] px = resizeBilinear(load(image), s, s);
        double[] mean = p.mean(), std = p.std();
        float[] data = new float[3 * s * s];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++) data[(c * s + y) * s + x] = (float) ((px[y][x][c] / 255.0 - mean[c]) / std[c]);
        return Tensor.of(data, 1, 3, s, s);
    }

    static float[] run(Module m, Tensor x) {
        try (var _ = Autograd.noGrad()) {
            return m.forward(x).toFloatArray();
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** Indices of the k largest values, largest first (ties: lower index first). */
    static int[] topK(float[] v, int k) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = i;
        java.util.Arrays.sort(idx, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = idx[i];
        return out;
    }

    /** A golden vector file: one number per line. */
    static float[] golden(Path file) {
        try {
            List<String> lines = Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList();
            float[] v = new float[lines.size()];
            for (int i = 0; i < v.length; i++) v[i] = Float.parseFloat(lines.get(i).strip());
            return v;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
