package dev.graft.data;

import dev.graft.GraftException;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Image decoding and the pixel transforms of torchvision's ImageNet pipeline, on {@link RgbImage}s.
 *
 * <p><b>Decoding</b> ({@link #decode}) reads JPEG (including CMYK and YCCK, through the TwelveMonkeys
 * plugin), PNG, BMP and GIF (the first frame) with ImageIO and converts every pixel layout to 8-bit RGB
 * the way PIL's {@code Image.convert("RGB")} does: grayscale is copied to the three channels (no gamma
 * change), palettes are looked up, alpha is dropped (not blended). EXIF orientation is <em>not</em>
 * applied, as neither PIL's {@code Image.open} nor torchvision apply it. Images of more than
 * {@link #MAX_PIXELS} pixels are refused from their header, before any pixel is decoded; a file cut
 * short is refused as PIL refuses it (ImageIO's readers would only warn and fill it with gray).
 *
 * <p><b>Resizing</b> ({@link #resize}) is a port of Pillow's resampler (Pillow 9, {@code Resample.c}):
 * a separable convolution whose kernel (triangle for bilinear, Keys a = −0.5 for bicubic) is widened
 * by the downscale factor, so downscaling is antialiased; coefficients are 22-bit fixed point and the
 * horizontal pass is rounded to 8 bits before the vertical one, as Pillow does, so results equal
 * Pillow's (and so torchvision's on PIL images) bit for bit on the same decoded pixels.
 */
public final class Images {
    private Images() {}

    /** The largest image decoded, in pixels (100 megapixels); larger ones are refused as probable decompression bombs. */
    public static final long MAX_PIXELS = 100_000_000L;

    /** Resampling filters, named as in torchvision's {@code InterpolationMode}. */
    public enum Interpolation {
        /** Nearest neighbour (Pillow's NEAREST: the source pixel under the output pixel's center). */
        NEAREST,
        /** Triangle filter, antialiased when downscaling (Pillow's BILINEAR). */
        BILINEAR,
        /** Keys cubic with a = −0.5, antialiased when downscaling (Pillow's BICUBIC). */
        BICUBIC;

        /** Parses "nearest", "bilinear" or "bicubic" (any case); fails with one line otherwise. */
        public static Interpolation of(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "nearest" -> NEAREST;
                case "bilinear", "linear" -> BILINEAR;
                case "bicubic", "cubic" -> BICUBIC;
                default -> throw new GraftException("unknown interpolation '" + name + "' (expected nearest, bilinear or bicubic)");
            };
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    /**
     * Decodes an image file to RGB. Fails with a {@link GraftException} whose one-line message names
     * the file when it cannot be read, is not an image of a known format, is damaged, or is larger
     * than {@link #MAX_PIXELS}.
     */
    public static RgbImage decode(Path file) {
        if (!Files.isRegularFile(file)) throw new GraftException("cannot read image " + file + ": no such file");
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) throw new GraftException("cannot read image " + file);
            return decode(in, file.toString());
        } catch (IOException e) {
            throw new GraftException("cannot read image " + file + ": " + oneLine(e), e);
        }
    }

    /** Decodes an image held in memory; {@code name} is used in error messages. */
    public static RgbImage decode(byte[] bytes, String name) {
        // A memory-backed stream: ImageIO.createImageInputStream would spool to a temporary file.
        try (ImageInputStream in = new javax.imageio.stream.MemoryCacheImageInputStream(new java.io.ByteArrayInputStream(bytes))) {
            return decode(in, name);
        } catch (IOException e) {
            throw new GraftException("cannot read image " + name + ": " + oneLine(e), e);
        }
    }

    private static RgbImage decode(ImageInputStream in, String name) throws IOException {
        Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
        if (!readers.hasNext())
            throw new GraftException("cannot decode image " + name + ": not a JPEG, PNG, BMP or GIF file");
        List<String> failures = new ArrayList<>();
        while (readers.hasNext()) { // the TwelveMonkeys JPEG reader comes first; the JDK's is a fallback
            ImageReader reader = readers.next();
            try {
                in.seek(0);
                reader.setInput(in, true, true);
                long w = reader.getWidth(0), h = reader.getHeight(0);
                if (w <= 0 || h <= 0) throw new GraftException("cannot decode image " + name + ": its header gives a size of " + w + "x" + h);
                if (w * h > MAX_PIXELS)
                    throw new GraftException("refusing to decode image " + name + ": " + w + "x" + h + " is " + (w * h / 1_000_000)
                            + " megapixels, more than the " + MAX_PIXELS / 1_000_000 + " allowed (possible decompression bomb)");
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                BufferedImage image = reader.read(0);
                // Like PIL, refuse a file cut short (readers fill the missing part with gray and only warn);
                // other warnings (e.g. extraneous bytes between JPEG markers) are harmless and ignored.
                for (String warning : warnings) {
                    String lower = warning.toLowerCase(Locale.ROOT);
                    if (lower.contains("premature end") || lower.contains("truncated"))
                        throw new GraftException("cannot decode image " + name + ": the file is truncated (" + warning.strip() + ")");
                }
                return toRgb(image);
            } catch (GraftException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                failures.add(oneLine(e));
            } finally {
                reader.dispose();
            }
        }
        throw new GraftException("cannot decode image " + name + ": " + String.join("; ", failures));
    }

    /**
     * Converts a decoded image to 8-bit RGB as PIL's {@code convert("RGB")}: RGB components are taken
     * as stored (alpha dropped), gray is replicated without gamma change, anything else (palettes,
     * CMYK, other color spaces) goes through {@link BufferedImage#getRGB}.
     */
    public static RgbImage toRgb(BufferedImage image) {
        int w = image.getWidth(), h = image.getHeight();
        byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int type = cm.getColorSpace().getType();
        if (cm instanceof ComponentColorModel && (type == ColorSpace.TYPE_RGB || type == ColorSpace.TYPE_GRAY)
                && cm.getNumColorComponents() == (type == ColorSpace.TYPE_RGB ? 3 : 1) && raster.getNumBands() >= cm.getNumColorComponents()) {
            int bands = raster.getNumBands();
            int bits = cm.getComponentSize(0);
            int shift = Math.max(0, bits - 8);
            int[] row = new int[w * bands];
            boolean gray = type == ColorSpace.TYPE_GRAY;
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, row);
                int o = y * w * 3;
                for (int x = 0; x < w; x++) {
                    int p = x * bands;
                    if (gray) {
                        byte v = (byte) (row[p] >>> shift);
                        out[o++] = v;
                        out[o++] = v;
                        out[o++] = v;
                    } else {
                        out[o++] = (byte) (row[p] >>> shift);
                        out[o++] = (byte) (row[p + 1] >>> shift);
                        out[o++] = (byte) (row[p + 2] >>> shift);
                    }
                }
            }
        } else {
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                image.getRGB(0, y, w, 1, row, 0, w);
                int o = y * w * 3;
                for (int x = 0; x < w; x++) {
                    int argb = row[x];
                    out[o++] = (byte) (argb >>> 16);
                    out[o++] = (byte) (argb >>> 8);
                    out[o++] = (byte) argb;
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }

    // ---------------------------------------------------------------------------------------------
    // Geometry

    /** Copies the {@code width} × {@code height} region whose top-left pixel is ({@code left}, {@code top}); it must lie inside the image. */
    public static RgbImage crop(RgbImage image, int left, int top, int width, int height) {
        if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > image.width() || top + height > image.height())
            throw new GraftException("crop " + width + "x" + height + " at (" + left + ", " + top + ") does not fit in a "
                    + image.width() + "x" + image.height() + " image");
        if (left == 0 && top == 0 && width == image.width() && height == image.height()) return image;
        byte[] out = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            System.arraycopy(image.rgb(), ((top + y) * image.width() + left) * 3, out, y * width * 3, width * 3);
        return new RgbImage(width, height, out);
    }

    /**
     * The central {@code width} × {@code height} region, placed as torchvision's {@code CenterCrop}:
     * offsets {@code round((W − width) / 2)} with Python's round-half-to-even.
     */
    public static RgbImage centerCrop(RgbImage image, int width, int height) {
        if (width > image.width() || height > image.height())
            throw new GraftException("center crop " + width + "x" + height + " is larger than the " + image.width() + "x" + image.height() + " image");
        int top = (int) Math.rint((image.height() - height) / 2.0);
        int left = (int) Math.rint((image.width() - width) / 2.0);
        return crop(image, left, top, width, height);
    }

    /** The image mirrored left to right. */
    public static RgbImage flipHorizontal(RgbImage image) {
        int w = image.width(), h = image.height();
        byte[] in = image.rgb(), out = new byte[in.length];
        for (int y = 0; y < h; y++) {
            int row = y * w * 3;
            for (int x = 0; x < w; x++) {
                int s = row + x * 3, d = row + (w - 1 - x) * 3;
                out[d] = in[s];
                out[d + 1] = in[s + 1];
                out[d + 2] = in[s + 2];
            }
        }
        return new RgbImage(w, h, out);
    }

    /**
     * The size torchvision's {@code Resize(side)} gives: the shorter side becomes {@code side}, the
     * longer {@code int(side * long / short)} (truncated). Returns {width, height}.
     */
    public static int[] shorterSideSize(int width, int height, int side) {
        if (width <= height) return new int[] {side, (int) ((double) side * height / width)};
        return new int[] {(int) ((double) side * width / height), side};
    }

    // ---------------------------------------------------------------------------------------------
    // Resampling (Pillow's Resample.c)

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Resizes to {@code width} × {@code height} with Pillow's algorithm for {@code filter}. */
    public static RgbImage resize(RgbImage image, int width, int height, Interpolation filter) {
        if (width <= 0 || height <= 0) throw new GraftException("resize target must be positive, got " + width + "x" + height);
        if (width == image.width() && height == image.height()) return image;
        if (filter == Interpolation.NEAREST) return resizeNearest(image, width, height);
        double support = filter == Interpolation.BILINEAR ? 1.0 : 2.0;
        boolean needH = width != image.width(), needV = height != image.height();
        Coefficients kh = coefficients(image.width(), width, support, filter);
        Coefficients kv = coefficients(image.height(), height, support, filter);
        RgbImage cur = image;
        int yFirst = kv.bounds[0], yLast = kv.bounds[(height - 1) * 2] + kv.bounds[(height - 1) * 2 + 1];
        if (needH) {
            cur = horizontal(image, yFirst, yLast - yFirst, width, kh);
            for (int i = 0; i < height; i++) kv.bounds[i * 2] -= yFirst;
        }
        if (needV) cur = vertical(cur, height, kv);
        return cur;
    }

    /** Per output pixel: first input index, count, and fixed-point weights ({@code ksize} slots each). */
    private record Coefficients(int ksize, int[] bounds, int[] k) {}

    private static double kernel(Interpolation f, double x) {
        if (x < 0) x = -x;
        if (f == Interpolation.BILINEAR) return x < 1 ? 1 - x : 0;
        final double a = -0.5;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    private static Coefficients coefficients(int inSize, int outSize, double filterSupport, Interpolation f) {
        double scale = (double) inSize / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = filterSupport * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        int[] kk = new int[outSize * ksize];
        double[] k = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double ww = 0;
            for (int x = 0; x < xmax; x++) {
                double w = kernel(f, (x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < ksize; x++) {
                double v = x < xmax ? (ww != 0 ? k[x] / ww : k[x]) : 0;
                kk[xx * ksize + x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return new Coefficients(ksize, bounds, kk);
    }

    private static int clip8(int v) {
        if (v >= (1 << PRECISION_BITS << 8)) return 255;
        if (v <= 0) return 0;
        return v >> PRECISION_BITS;
    }

    private static RgbImage horizontal(RgbImage in, int yOffset, int rows, int outW, Coefficients c) {
        byte[] src = in.rgb(), dst = new byte[outW * rows * 3];
        int inW = in.width();
        for (int y = 0; y < rows; y++) {
            int srow = (y + yOffset) * inW * 3, drow = y * outW * 3;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = c.bounds[xx * 2], xmax = c.bounds[xx * 2 + 1], kbase = xx * c.ksize;
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++) {
                    int w = c.k[kbase + x], p = srow + (x + xmin) * 3;
                    s0 += (src[p] & 0xFF) * w;
                    s1 += (src[p + 1] & 0xFF) * w;
                    s2 += (src[p + 2] & 0xFF) * w;
                }
                int d = drow + xx * 3;
                dst[d] = (byte) clip8(s0);
                dst[d + 1] = (byte) clip8(s1);
                dst[d + 2] = (byte) clip8(s2);
            }
        }
        return new RgbImage(outW, rows, dst);
    }

    private static RgbImage vertical(RgbImage in, int outH, Coefficients c) {
        int w = in.width();
        byte[] src = in.rgb(), dst = new byte[w * outH * 3];
        int rowBytes = w * 3;
        int[] acc = new int[rowBytes];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = c.bounds[yy * 2], ymax = c.bounds[yy * 2 + 1], kbase = yy * c.ksize;
            java.util.Arrays.fill(acc, 1 << (PRECISION_BITS - 1));
            for (int y = 0; y < ymax; y++) {
                int wgt = c.k[kbase + y], srow = (y + ymin) * rowBytes;
                for (int i = 0; i < rowBytes; i++) acc[i] += (src[srow + i] & 0xFF) * wgt;
            }
            int drow = yy * rowBytes;
            for (int i = 0; i < rowBytes; i++) dst[drow + i] = (byte) clip8(acc[i]);
        }
        return new RgbImage(w, outH, dst);
    }

    /** Pillow's NEAREST resize (an affine scale sampling at output pixel centers, accumulated as Pillow does). */
    private static RgbImage resizeNearest(RgbImage image, int width, int height) {
        double sx = (double) image.width() / width, sy = (double) image.height() / height;
        int[] xin = new int[width];
        double xo = sx * 0.5;
        for (int x = 0; x < width; x++, xo += sx) xin[x] = Math.min(image.width() - 1, (int) xo);
        byte[] src = image.rgb(), dst = new byte[width * height * 3];
        double yo = sy * 0.5;
        for (int y = 0; y < height; y++, yo += sy) {
            int yi = Math.min(image.height() - 1, (int) yo), srow = yi * image.width() * 3, drow = y * width * 3;
            for (int x = 0; x < width; x++) {
                int s = srow + xin[x] * 3, d = drow + x * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(width, height, dst);
    }

    // ---------------------------------------------------------------------------------------------
    // To tensor values

    /**
     * The image as a float CHW array normalized per channel, as torchvision's {@code ToTensor} then
     * {@code Normalize(mean, std)} in float32: {@code (v / 255 − mean[c]) / std[c]}.
     */
    public static float[] toChw(RgbImage image, double[] mean, double[] std) {
        if (mean.length != 3 || std.length != 3) throw new GraftException("normalization needs 3 (RGB) mean and std values");
        int n = (int) image.pixels();
        float[] out = new float[3 * n];
        byte[] rgb = image.rgb();
        for (int c = 0; c < 3; c++) {
            float m = (float) mean[c], s = (float) std[c];
            int base = c * n;
            for (int i = 0; i < n; i++) out[base + i] = ((rgb[i * 3 + c] & 0xFF) / 255f - m) / s;
        }
        return out;
    }
}
