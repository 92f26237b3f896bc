package dev.graft.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The PyTorch fixtures of the importer tests, generated on first use into {@code target/zoo-fixtures/}
 * by {@code tools/fixtures/zoo/generate_zoo_fixtures.py} (PyTorch and torchvision for
 * {@code /usr/bin/python3}, or the interpreter in {@code GRAFT_PYTHON}; about 300 MB, a few seconds).
 * Without them the dependent tests are skipped, except under {@code CI=true}, where that is a failure.
 */
public final class ZooFixtures {
    private ZooFixtures() {}

    /** Must equal VERSION in the generator; another manifest version triggers regeneration. */
    static final int VERSION = 1;
    static final Path DIR = Path.of("target", "zoo-fixtures");
    private static final Path SCRIPT = Path.of("..", "tools", "fixtures", "zoo", "generate_zoo_fixtures.py");
    private static final List<String> FILES = List.of("resnet18.pth", "resnet18_wrapped.pth", "resnet18.safetensors", "resnet50.pth",
            "mobilenet_v2.pth", "mobilenet_v2.safetensors", "mobilenet_v2_timm.pth", "mobilenet_v2_timm.safetensors", "views.pth",
            "views_expected.npz", "small.safetensors", "small_expected.npz", "malicious_reduce.pth", "malicious_os_system.pth",
            "malicious_eval.pth", "resnet18_input.npy", "resnet18_logits.npy");

    private static boolean checked;
    private static String unavailable;
    private static JsonNode manifest;

    /** The fixture file; skips the calling test (fails under CI=true) when fixtures cannot be generated. */
    static Path path(String name) {
        ensure();
        Assumptions.assumeTrue(unavailable == null, () -> unavailable);
        Path p = DIR.resolve(name);
        if (!Files.isRegularFile(p)) throw new AssertionError("fixture " + p.toAbsolutePath() + " is missing after generation");
        return p;
    }

    static JsonNode manifest() {
        path("manifest.json");
        return manifest;
    }

    private static synchronized void ensure() {
        if (checked) return;
        checked = true;
        try {
            Files.createDirectories(DIR);
            try (FileChannel lock = FileChannel.open(DIR.resolveSibling("zoo-fixtures.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 var _ = lock.lock()) {
                if (!present()) {
                    String python = python();
                    String why = generate(python);
                    if (why != null) {
                        String msg = "zoo-import fixtures are missing from " + DIR.toAbsolutePath().normalize() + " and could not be generated: " + why
                                + ". Install PyTorch and torchvision for " + python + " or set GRAFT_PYTHON, then run: " + python
                                + " tools/fixtures/zoo/generate_zoo_fixtures.py zoo-import/target/zoo-fixtures";
                        if ("true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError(msg);
                        System.out.println("[ZooFixtures] SKIPPED: " + msg);
                        unavailable = msg;
                        return;
                    }
                    if (!present()) throw new AssertionError("the generator ran but " + DIR.resolve("manifest.json") + " is missing or has the wrong version");
                }
            }
            manifest = new ObjectMapper().readTree(DIR.resolve("manifest.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static boolean present() {
        Path m = DIR.resolve("manifest.json");
        if (!Files.isRegularFile(m)) return false;
        try {
            if (new ObjectMapper().readTree(m.toFile()).path("version").asInt() != VERSION) return false;
        } catch (IOException e) {
            return false;
        }
        for (String f : FILES) if (!Files.isRegularFile(DIR.resolve(f))) return false;
        return true;
    }

    /** The Python that generates fixtures: $GRAFT_PYTHON, else /usr/bin/python3 (Debian's torch), else python3. */
    public static String python() {
        String env = System.getenv("GRAFT_PYTHON");
        if (env != null && !env.isBlank()) return env;
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private static String generate(String python) throws IOException, InterruptedException {
        if (!Files.isRegularFile(SCRIPT)) return "generator " + SCRIPT.toAbsolutePath().normalize() + " not found";
        String probe = run(List.of(python, "-c", "import numpy, torch, torchvision"), 120);
        if (probe != null) return python + " cannot import numpy, torch and torchvision (" + probe + ")";
        System.out.println("[ZooFixtures] generating fixtures into " + DIR.toAbsolutePath().normalize());
        long t0 = System.nanoTime();
        String out = run(List.of(python, SCRIPT.toString(), DIR.toString()), 600);
        System.out.printf("[ZooFixtures] generator took %.1f s%n", (System.nanoTime() - t0) / 1e9);
        return out == null ? null : "the generator failed (" + out + ")";
    }

    /** Runs a command; null when it succeeds, else why not (its last output line). */
    public static String run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
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
}
