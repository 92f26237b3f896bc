package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.data.Images.Interpolation;
import dev.graft.io.Npy;
import dev.graft.models.Preprocessing;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Parity with PIL and torchvision 0.14: {@code tools/fixtures/images/generate_image_fixtures.py} is
 * run at test time on images of the shared data folder and writes its outputs under
 * {@code target/fixtures/images} (nothing is committed). Skipped when python3 with torch,
 * torchvision and PIL or the data folder is missing, except on CI ({@code CI=true}) where that fails.
 * The python is {@code $GRAFT_PYTHON}, else {@code /usr/bin/python3}.
 *
 * <p>Two levels: the resampler on PIL's own decoded pixels must equal PIL's output (it is a port), and
 * the whole pipeline from the file (our decoder included, which for JPEG is not libjpeg-turbo) must
 * stay within 0.01 mean and 0.1 max absolute difference in normalized units of torchvision's tensor.
 */
class ImagesParityTest {
    static final Path SCRIPT = Path.of("..", "tools", "fixtures", "images", "generate_image_fixtures.py");
    static Path out;
    static Path data;
    static JsonNode manifest;

    @BeforeAll
    static void generate() throws IOException, InterruptedException {
        data = TestData.dir();
        String python = System.getenv().getOrDefault("GRAFT_PYTHON", "/usr/bin/python3");
        if (!Files.isExecutable(Path.of(python))) skipOrFail("no python at " + python + " (set GRAFT_PYTHON)");
        out = Path.of("target", "fixtures", "images").toAbsolutePath();
        Files.createDirectories(out);
        Path log = out.resolve("generate.log");
        Process p = new ProcessBuilder(python, SCRIPT.toAbsolutePath().normalize().toString(), data.toString(), out.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the image fixture generator took more than 120 s; see " + log);
        }
        String text = Files.readString(log, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            if (text.contains("ModuleNotFoundError")) skipOrFail("python lacks torch, torchvision or PIL: " + lastLine(text));
            throw new AssertionError("the image fixture generator failed (" + SCRIPT + "): " + text);
        }
        manifest = new ObjectMapper().readTree(out.resolve("manifest.json").toFile());
    }

    private static void skipOrFail(String why) {
        if (TestData.onCi()) throw new AssertionError(why);
        Assumptions.abort(why);
    }

    private static String lastLine(String s) {
        String[] lines = s.strip().split("\n");
        return lines[lines.length - 1];
    }

    private static List<JsonNode> images() {
        List<JsonNode> l = new ArrayList<>();
        manifest.get("images").forEach(l::add);
        return l;
    }

    /** An HWC uint8 array as an image. */
    private static RgbImage load(int index, String kind) {
        Npy.Array a = Npy.readArray(out.resolve(index + "." + kind + ".npy"));
        int[] s = a.shape();
        float[] v = a.toFloatArray();
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) (int) v[i];
        return new RgbImage(s[1], s[0], b);
    }

    private static int maxDiff(RgbImage a, RgbImage b) {
        assertThat(a.width()).isEqualTo(b.width());
        assertThat(a.height()).isEqualTo(b.height());
        int m = 0;
        for (int i = 0; i < a.rgb().length; i++) m = Math.max(m, Math.abs((a.rgb()[i] & 0xFF) - (b.rgb()[i] & 0xFF)));
        return m;
    }

    @Test
    void resamplerEqualsPillowOnTheSamePixels() {
        Preprocessor eval = Preprocessor.eval(Preprocessing.IMAGENET);
        for (JsonNode img : images()) {
            int i = img.get("index").asInt();
            RgbImage rgb = load(i, "rgb");
            String name = img.get("path").asText();
            assertThat(maxDiff(eval.evalPixels(rgb), load(i, "eval"))).as("Resize(256)+CenterCrop(224) of " + name).isZero();
            assertThat(maxDiff(Images.resize(rgb, 256, 256, Interpolation.BILINEAR), load(i, "stretch"))).as("bilinear 256x256 of " + name).isZero();
            assertThat(maxDiff(Images.resize(rgb, 97, 61, Interpolation.BICUBIC), load(i, "bicubic"))).as("bicubic 97x61 of " + name).isZero();
            assertThat(maxDiff(Images.resize(rgb, 97, 61, Interpolation.NEAREST), load(i, "nearest"))).as("nearest 97x61 of " + name).isZero();
        }
    }

    @Test
    void decoderMatchesPillow() {
        for (JsonNode img : images()) {
            String name = img.get("path").asText();
            RgbImage ours = Images.decode(data.resolve(name)), pil = load(img.get("index").asInt(), "rgb");
            int max = maxDiff(ours, pil);
            long sum = 0;
            for (int k = 0; k < ours.rgb().length; k++) sum += Math.abs((ours.rgb()[k] & 0xFF) - (pil.rgb()[k] & 0xFF));
            double mean = (double) sum / ours.rgb().length;
            System.out.printf("decode %-45s %-4s mean |diff| %.3f, max %d (uint8 levels)%n", name, img.get("mode").asText(), mean, max);
            if (name.endsWith(".jpg") || name.endsWith(".jpeg")) {
                assertThat(mean).as("mean difference to PIL of the decoded " + name).isLessThan(1.5);
            } else {
                assertThat(max).as("lossless " + name + " decodes exactly as PIL").isZero();
            }
        }
    }

    @Test
    void wholePipelineMatchesTorchvision() {
        Preprocessor eval = Preprocessor.eval(Preprocessing.IMAGENET);
        double worstMean = 0, worstMax = 0;
        for (JsonNode img : images()) {
            String name = img.get("path").asText();
            float[] ours = eval.file(data.resolve(name)).toFloatArray();
            Npy.Array ref = Npy.readArray(out.resolve(img.get("index").asInt() + ".tensor.npy"));
            assertThat(ref.shape()).containsExactly(3, 224, 224);
            float[] theirs = ref.toFloatArray();
            double sum = 0, max = 0;
            for (int k = 0; k < ours.length; k++) {
                double d = Math.abs(ours[k] - theirs[k]);
                sum += d;
                max = Math.max(max, d);
            }
            double mean = sum / ours.length;
            System.out.printf("tensor %-45s mean |diff| %.5f, max %.5f (normalized units)%n", name, mean, max);
            worstMean = Math.max(worstMean, mean);
            worstMax = Math.max(worstMax, max);
            assertThat(mean).as("mean difference to torchvision for " + name).isLessThan(0.01);
            assertThat(max).as("max difference to torchvision for " + name).isLessThan(0.1);
        }
        System.out.printf("tensor worst: mean %.5f, max %.5f%n", worstMean, worstMax);
    }
}
