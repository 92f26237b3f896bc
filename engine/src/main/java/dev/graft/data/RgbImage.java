package dev.graft.data;

import dev.graft.GraftException;

/**
 * An 8-bit RGB image held in memory: {@code height} rows of {@code width} pixels, each pixel three
 * bytes R, G, B (row-major, interleaved, the layout of a PIL "RGB" image or a numpy HWC uint8 array).
 * Values are unsigned: read them with {@link #get}.
 *
 * <p>The array is shared, not copied: an image is meant to be built once by a decoder or a transform
 * and then only read.
 *
 * @param width  pixels per row (≥ 1)
 * @param height rows (≥ 1)
 * @param rgb    {@code width * height * 3} bytes
 */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (width <= 0 || height <= 0) throw new GraftException("image size must be positive, got " + width + "x" + height);
        if (rgb == null || rgb.length != (long) width * height * 3)
            throw new GraftException("a " + width + "x" + height + " RGB image needs " + (long) width * height * 3 + " bytes, got "
                    + (rgb == null ? "none" : rgb.length));
    }

    /** A black image. */
    public static RgbImage blank(int width, int height) {
        return new RgbImage(width, height, new byte[Math.multiplyExact(Math.multiplyExact(width, height), 3)]);
    }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel ({@code x}, {@code y}), 0–255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    /** Number of pixels. */
    public long pixels() {
        return (long) width * height;
    }

    /** Same size and the same pixels. */
    @Override
    public boolean equals(Object o) {
        return o instanceof RgbImage i && width == i.width && height == i.height && java.util.Arrays.equals(rgb, i.rgb);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * width + height) + java.util.Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
