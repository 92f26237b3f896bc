package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.data.Images.Interpolation;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoding of every supported format and layout, error messages, and the geometric transforms. */
class ImagesTest {
    @TempDir
    Path tmp;

    /** A 60x40 image: left half red-ish, right half blue-ish, a green pixel at (1, 1). */
    private static BufferedImage picture(int type) {
        BufferedImage im = new BufferedImage(60, 40, type);
        Graphics2D g = im.createGraphics();
        g.setColor(new Color(200, 30, 40));
        g.fillRect(0, 0, 30, 40);
        g.setColor(new Color(20, 50, 220));
        g.fillRect(30, 0, 30, 40);
        g.dispose();
        im.setRGB(1, 1, new Color(10, 240, 10).getRGB());
        return im;
    }

    private Path write(BufferedImage im, String format, String name) throws IOException {
        Path p = tmp.resolve(name);
        assertThat(ImageIO.write(im, format, p.toFile())).as("a " + format + " writer").isTrue();
        return p;
    }

    private static void assertPixel(RgbImage im, int x, int y, int r, int g, int b, int tolerance) {
        assertThat(im.get(x, y, 0)).as("R at %d,%d", x, y).isCloseTo(r, org.assertj.core.data.Offset.offset(tolerance));
        assertThat(im.get(x, y, 1)).as("G at %d,%d", x, y).isCloseTo(g, org.assertj.core.data.Offset.offset(tolerance));
        assertThat(im.get(x, y, 2)).as("B at %d,%d", x, y).isCloseTo(b, org.assertj.core.data.Offset.offset(tolerance));
    }

    @Test
    void decodesPngBmpAndGifExactly() throws IOException {
        // (The JDK's GIF writer garbles the last row of images a few pixels wide; 60x40 is safe.)
        byte[] r = new byte[256], g = new byte[256], b = new byte[256];
        r[0] = (byte) 200; g[0] = 30; b[0] = 40;
        r[1] = 20; g[1] = 50; b[1] = (byte) 220;
        r[2] = 10; g[2] = (byte) 240; b[2] = 10;
        BufferedImage indexed = new BufferedImage(60, 40, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 256, r, g, b));
        for (int y = 0; y < 40; y++) for (int x = 0; x < 60; x++) indexed.getRaster().setSample(x, y, 0, x < 30 ? 0 : 1);
        indexed.getRaster().setSample(1, 1, 0, 2);
        for (String format : new String[] {"png", "bmp", "gif"}) {
            RgbImage im = Images.decode(write(format.equals("gif") ? indexed : picture(BufferedImage.TYPE_3BYTE_BGR), format, "p." + format));
            assertThat(im.width()).as(format).isEqualTo(60);
            assertThat(im.height()).isEqualTo(40);
            assertPixel(im, 0, 0, 200, 30, 40, 0);
            assertPixel(im, 59, 39, 20, 50, 220, 0);
            assertPixel(im, 1, 1, 10, 240, 10, 0);
        }
    }

    @Test
    void decodesJpegClosely() throws IOException {
        BufferedImage big = new BufferedImage(32, 32, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = big.createGraphics();
        g.setColor(new Color(200, 30, 40));
        g.fillRect(0, 0, 32, 32);
        g.dispose();
        RgbImage im = Images.decode(write(big, "jpg", "p.jpg"));
        assertThat(im.width()).isEqualTo(32);
        assertPixel(im, 16, 16, 200, 30, 40, 4);
    }

    @Test
    void grayscaleIsReplicatedWithoutGammaChange() throws IOException {
        BufferedImage gray = new BufferedImage(5, 3, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 3; y++) for (int x = 0; x < 5; x++) gray.getRaster().setSample(x, y, 0, 100);
        RgbImage png = Images.decode(write(gray, "png", "g.png"));
        assertPixel(png, 2, 1, 100, 100, 100, 0);
        RgbImage jpg = Images.decode(write(gray, "jpg", "g.jpg"));
        assertPixel(jpg, 2, 1, 100, 100, 100, 1);

        BufferedImage gray16 = new BufferedImage(2, 2, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) gray16.getRaster().setSample(x, y, 0, 0x64FF);
        assertPixel(Images.decode(write(gray16, "png", "g16.png")), 1, 1, 100, 100, 100, 0);
    }

    @Test
    void alphaIsDroppedNotBlended() throws IOException {
        BufferedImage argb = new BufferedImage(3, 3, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0x000A141E); // fully transparent (10, 20, 30)
        argb.setRGB(1, 0, 0x80C86432); // half transparent (200, 100, 50)
        RgbImage im = Images.decode(write(argb, "png", "a.png"));
        assertPixel(im, 0, 0, 10, 20, 30, 0);
        assertPixel(im, 1, 0, 200, 100, 50, 0);
    }

    @Test
    void palettePngIsLookedUp() throws IOException {
        byte[] r = {0, (byte) 255, 0}, g = {0, 0, (byte) 128}, b = {0, 0, 0};
        BufferedImage pal = new BufferedImage(4, 2, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(2, 3, r, g, b));
        pal.getRaster().setSample(1, 0, 0, 1);
        pal.getRaster().setSample(2, 1, 0, 2);
        RgbImage im = Images.decode(write(pal, "png", "pal.png"));
        assertPixel(im, 0, 0, 0, 0, 0, 0);
        assertPixel(im, 1, 0, 255, 0, 0, 0);
        assertPixel(im, 2, 1, 0, 128, 0, 0);
    }

    @Test
    void cmykJpegDecodes() throws IOException {
        // 16x16 Adobe CMYK JPEG written by PIL: left half pure cyan, right half pure yellow.
        byte[] bytes;
        try (InputStream in = ImagesTest.class.getResourceAsStream("/testdata/cmyk.jpg")) {
            bytes = in.readAllBytes();
        }
        RgbImage im = Images.decode(bytes, "cmyk.jpg");
        assertThat(im.width()).isEqualTo(16);
        assertThat(im.get(3, 8, 0)).as("cyan has little red").isLessThan(100);
        assertThat(im.get(3, 8, 1)).isGreaterThan(140);
        assertThat(im.get(3, 8, 2)).isGreaterThan(180);
        assertThat(im.get(12, 8, 2)).as("yellow has little blue").isLessThan(100);
        assertThat(im.get(12, 8, 0)).isGreaterThan(200);
        assertThat(im.get(12, 8, 1)).isGreaterThan(200);
    }

    @Test
    void unreadableFilesFailWithOneLineNamingThem() throws IOException {
        Path garbage = tmp.resolve("garbage.jpg");
        Files.write(garbage, "this is not an image at all".getBytes());
        assertThatThrownBy(() -> Images.decode(garbage)).isInstanceOf(GraftException.class)
                .hasMessageContaining("garbage.jpg").hasMessageNotContaining("\n");

        Path empty = Files.createFile(tmp.resolve("empty.png"));
        assertThatThrownBy(() -> Images.decode(empty)).isInstanceOf(GraftException.class).hasMessageContaining("empty.png");

        assertThatThrownBy(() -> Images.decode(tmp.resolve("missing.png"))).isInstanceOf(GraftException.class)
                .hasMessageContaining("missing.png").hasMessageContaining("no such file");

        // A PNG cut in the middle of its pixel data.
        BufferedImage noise = new BufferedImage(64, 64, BufferedImage.TYPE_3BYTE_BGR);
        java.util.Random rnd = new java.util.Random(1);
        for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) noise.setRGB(x, y, rnd.nextInt());
        byte[] png = Files.readAllBytes(write(noise, "png", "full.png"));
        Path cut = tmp.resolve("cut.png");
        Files.write(cut, java.util.Arrays.copyOf(png, png.length / 2));
        assertThatThrownBy(() -> Images.decode(cut)).isInstanceOf(GraftException.class)
                .hasMessageContaining("cut.png").hasMessageNotContaining("\n");

        // A JPEG cut in half: readers would fill the rest with gray and only warn; PIL refuses it, so do we.
        byte[] jpg = Files.readAllBytes(write(noise, "jpg", "full.jpg"));
        Path cutJpg = tmp.resolve("cut.jpg");
        Files.write(cutJpg, java.util.Arrays.copyOf(jpg, jpg.length / 2));
        assertThatThrownBy(() -> Images.decode(cutJpg)).isInstanceOf(GraftException.class)
                .hasMessageContaining("cut.jpg").hasMessageContaining("truncated").hasMessageNotContaining("\n");
    }

    @Test
    void decompressionBombsAreRefusedFromTheHeader() throws IOException {
        byte[] png = Files.readAllBytes(write(picture(BufferedImage.TYPE_3BYTE_BGR), "png", "small.png"));
        ByteBuffer bb = ByteBuffer.wrap(png); // signature (8), IHDR length (4), "IHDR" (4), width, height, ...
        bb.putInt(16, 20_000).putInt(20, 20_000);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(png, 12, 17);
        bb.putInt(29, (int) crc.getValue());
        Path bomb = tmp.resolve("bomb.png");
        Files.write(bomb, png);
        assertThatThrownBy(() -> Images.decode(bomb)).isInstanceOf(GraftException.class)
                .hasMessageContaining("bomb.png").hasMessageContaining("20000x20000").hasMessageContaining("megapixels");
    }

    @Test
    void cropsFlipsAndCenterCropsLikeTorchvision() {
        RgbImage im = ramp(7, 5);
        RgbImage c = Images.crop(im, 2, 1, 3, 2);
        assertThat(c.get(0, 0, 0)).isEqualTo(im.get(2, 1, 0));
        assertThat(c.get(2, 1, 1)).isEqualTo(im.get(4, 2, 1));
        // (7 - 4) / 2 = 1.5 rounds to 2 (half to even), (5 - 4) / 2 = 0.5 rounds to 0
        RgbImage cc = Images.centerCrop(im, 4, 4);
        assertThat(cc.get(0, 0, 0)).isEqualTo(im.get(2, 0, 0));
        RgbImage f = Images.flipHorizontal(im);
        assertThat(f.get(0, 3, 2)).isEqualTo(im.get(6, 3, 2));
        assertThat(Images.flipHorizontal(f)).isEqualTo(im);
        assertThatThrownBy(() -> Images.crop(im, 5, 0, 3, 1)).isInstanceOf(GraftException.class).hasMessageContaining("does not fit");
        assertThat(Images.shorterSideSize(500, 375, 256)).containsExactly(341, 256);
        assertThat(Images.shorterSideSize(375, 500, 256)).containsExactly(256, 341);
    }

    @Test
    void resizeKeepsConstantImagesAndAverages() {
        RgbImage flat = new RgbImage(40, 30, filled(40 * 30 * 3, (byte) 77));
        for (Interpolation f : Interpolation.values())
            for (int[] wh : new int[][] {{13, 9}, {40, 7}, {81, 64}, {1, 1}}) {
                RgbImage r = Images.resize(flat, wh[0], wh[1], f);
                assertThat(r.width()).isEqualTo(wh[0]);
                for (byte v : r.rgb()) assertThat(v & 0xFF).as(f + " " + wh[0] + "x" + wh[1]).isEqualTo(77);
            }
        // Halving a 2-pixel-period stripe pattern with the antialiased filter gives near its mean.
        RgbImage stripes = RgbImage.blank(64, 2);
        for (int x = 0; x < 64; x += 2) for (int c = 0; c < 3; c++) { stripes.rgb()[x * 3 + c] = (byte) 200; stripes.rgb()[(64 + x) * 3 + c] = (byte) 200; }
        RgbImage half = Images.resize(stripes, 16, 2, Interpolation.BILINEAR);
        for (int x = 2; x < 14; x++) assertThat(half.get(x, 0, 0)).isBetween(90, 110);
        assertThat(Interpolation.of("BiLinear")).isEqualTo(Interpolation.BILINEAR);
        assertThatThrownBy(() -> Interpolation.of("lanczos")).isInstanceOf(GraftException.class).hasMessageContaining("lanczos");
    }

    @Test
    void toChwNormalizesPerChannel() {
        RgbImage im = new RgbImage(2, 1, new byte[] {(byte) 255, 0, 51, 0, (byte) 255, 102});
        float[] x = Images.toChw(im, new double[] {0.5, 0.5, 0.0}, new double[] {0.5, 0.25, 0.2});
        assertThat(x).containsExactly(1f, -1f, -2f, 2f, 1f, 2f);
    }

    static RgbImage ramp(int w, int h) {
        byte[] b = new byte[w * h * 3];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 7);
        return new RgbImage(w, h, b);
    }

    private static byte[] filled(int n, byte v) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, v);
        return b;
    }
}
