package dev.graft.models;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.io.Npy;
import dev.graft.nn.LoadResult;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Eval-mode logits of Graft's ResNet-18/50 and MobileNetV2 against torchvision 0.14 with the same random
 * weights (BatchNorm statistics and affine parameters perturbed, so eval-mode BatchNorm is non-trivial).
 *
 * <p>The fixtures are large (ResNet-50 is ~100 MB), so they are not committed: the first run generates
 * them into {@code target/model-fixtures/} with {@code tools/fixtures/models/generate_model_fixtures.py}
 * (PyTorch and torchvision for {@code /usr/bin/python3}, or the interpreter in {@code GRAFT_PYTHON}).
 * Without them the tests are skipped, except under {@code CI=true}, where that is a failure.
 */
class ModelParityTest {
    /** Must equal VERSION in the generator; a different manifest version triggers regeneration. */
    private static final int FIXTURE_VERSION = 1;
    private static final double TOLERANCE = 1e-4;
    private static final Path DIR = Path.of("target", "model-fixtures");
    private static final Path SCRIPT = Path.of("..", "tools", "fixtures", "models", "generate_model_fixtures.py");

    /** Why the fixtures are unavailable (the tests are then skipped), or null. */
    private static String unavailable;

    @BeforeAll
    static void ensureFixtures() throws IOException, InterruptedException {
        Files.createDirectories(DIR);
        // a lock, so that concurrent builds do not generate into the same directory at once
        try (FileChannel lock = FileChannel.open(DIR.resolveSibling("model-fixtures.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             var _ = lock.lock()) {
            if (fixturesPresent()) return;
            String python = python();
            String why = generate(python);
            if (why != null) {
                String msg = "model parity fixtures are missing from " + DIR.toAbsolutePath().normalize() + " and could not be generated: " + why
                        + ". Install PyTorch and torchvision for " + python + " (Debian: apt-get install python3-torch python3-torchvision)"
                        + " or set GRAFT_PYTHON, then run: " + python + " tools/fixtures/models/generate_model_fixtures.py engine/target/model-fixtures";
                if ("true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError(msg);
                System.out.println("[ModelParityTest] SKIPPED: " + msg);
                unavailable = msg;
                return;
            }
            if (!fixturesPresent()) throw new AssertionError("the generator ran but " + DIR.resolve("manifest.json") + " is missing or has the wrong version");
        }
    }

    private static boolean fixturesPresent() {
        Path manifest = DIR.resolve("manifest.json");
        if (!Files.isRegularFile(manifest)) return false;
        try {
            if (new ObjectMapper().readTree(manifest.toFile()).path("version").asInt() != FIXTURE_VERSION) return false;
        } catch (IOException e) {
            return false;
        }
        for (String m : List.of("resnet18", "resnet50", "mobilenet_v2"))
            if (!Files.isRegularFile(DIR.resolve(m + ".npz")) || !Files.isRegularFile(DIR.resolve(m + "_io.npz"))) return false;
        return true;
    }

    private static String python() {
        String env = System.getenv("GRAFT_PYTHON");
        if (env != null && !env.isBlank()) return env;
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    /** Runs the generator; returns null on success, else why it could not. */
    private static String generate(String python) throws IOException, InterruptedException {
        if (!Files.isRegularFile(SCRIPT)) return "generator " + SCRIPT.toAbsolutePath().normalize() + " not found";
        String probe = run(List.of(python, "-c", "import numpy, torch, torchvision"), 120);
        if (probe != null) return python + " cannot import numpy, torch and torchvision (" + probe + ")";
        System.out.println("[ModelParityTest] generating fixtures into " + DIR.toAbsolutePath().normalize());
        String out = run(List.of(python, SCRIPT.toString(), DIR.toString()), 900);
        return out == null ? null : "the generator failed (" + out + ")";
    }

    private static String run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            return "cannot start " + command.getFirst() + ": " + e.getMessage();
        }
        byte[] output = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return "timed out after " + timeoutSeconds + " s";
        }
        String text = new String(output, StandardCharsets.UTF_8).strip();
        if (p.exitValue() == 0) return null;
        String[] lines = text.split("\n");
        return "exit " + p.exitValue() + ": " + lines[lines.length - 1];
    }

    /** Loads the torchvision weights strictly, runs eval-mode forward on each input and compares logits. */
    private static void check(String name, String... inputs) {
        Assumptions.assumeTrue(unavailable == null, () -> unavailable);
        ImageClassifier model = Models.create(name, 1000);
        Map<String, Tensor> state = Npy.readNpz(DIR.resolve(name + ".npz"));
        LoadResult result = model.loadStateDict(state, true);
        assertThat(result.isExactMatch()).isTrue();
        model.eval();
        Map<String, Tensor> io = Npy.readNpz(DIR.resolve(name + "_io.npz"));
        for (String in : inputs) {
            Tensor x = io.get("input" + in), ref = io.get("logits" + in);
            long t0 = System.nanoTime();
            Tensor y = model.forward(x);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(y.shape()).containsExactly(ref.shape());
            float[] a = y.toFloatArray(), b = ref.toFloatArray();
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < a.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs((double) a[i] - b[i]));
                maxRef = Math.max(maxRef, Math.abs(b[i]));
            }
            double rel = maxDiff / maxRef;
            System.out.printf("[ModelParityTest] %s input %s: max|diff| = %.3g, max|ref| = %.4g, relative %.3g (forward %d ms)%n",
                    name, Arrays.toString(x.shape()), maxDiff, maxRef, rel, ms);
            assertThat(rel).as("%s %s: max|diff| / max|ref| (max|diff| %s)", name, Arrays.toString(x.shape()), maxDiff).isLessThanOrEqualTo(TOLERANCE);
        }
    }

    @Test
    void resnet18() {
        check("resnet18", "", "224");
    }

    @Test
    void resnet50() {
        check("resnet50", "");
    }

    @Test
    void mobilenetV2() {
        check("mobilenet_v2", "");
    }
}
