package dev.graft.zoo.onnx;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.zoo.ZooFixtures;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * The exported ONNX models the tests read. They are not committed (ResNet-50 is ~100 MB): the first
 * test that needs them runs {@code tools/fixtures/zoo/generate_onnx_fixtures.py} (PyTorch 1.13 and
 * torchvision 0.14 for {@code /usr/bin/python3}, or the interpreter in {@code GRAFT_PYTHON}) into
 * {@code zoo-import/target/onnx-fixtures/}, once. Without PyTorch the tests that need them are
 * skipped, except under {@code CI=true}, where that is a failure.
 */
final class OnnxFixtures {
    private OnnxFixtures() {}

    /** Must equal VERSION in the generator. */
    static final int VERSION = 1;
    static final Path DIR = Path.of("target", "onnx-fixtures");
    private static final Path SCRIPT = Path.of("..", "tools", "fixtures", "zoo", "generate_onnx_fixtures.py");
    static final List<String> CASES = List.of("resnet18", "resnet50", "mobilenet_v2", "resnet18_opset11", "mobilenet_v2_bn", "tiny");

    private static boolean checked;
    private static String unavailable;

    /** The fixture directory; skips the calling test (or fails under CI=true) when it cannot be generated. */
    static synchronized Path dir() {
        if (!checked) {
            checked = true;
            try {
                unavailable = ensure();
            } catch (IOException | InterruptedException e) {
                unavailable = "generation failed: " + e;
            }
            if (unavailable != null) {
                String msg = "ONNX fixtures are missing from " + DIR.toAbsolutePath().normalize() + " and could not be generated: " + unavailable
                        + ". Install PyTorch 1.13+ and torchvision for /usr/bin/python3 (or set GRAFT_PYTHON), then run: python3 "
                        + "tools/fixtures/zoo/generate_onnx_fixtures.py zoo-import/target/onnx-fixtures";
                unavailable = msg;
                if ("true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError(msg);
                System.out.println("[OnnxFixtures] SKIPPED: " + msg);
            }
        }
        if (unavailable != null && "true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError(unavailable);
        Assumptions.assumeTrue(unavailable == null, () -> unavailable);
        return DIR;
    }

    static Path model(String name) {
        return dir().resolve(name + ".onnx");
    }

    private static String ensure() throws IOException, InterruptedException {
        Files.createDirectories(DIR);
        try (FileChannel lock = FileChannel.open(DIR.resolveSibling("onnx-fixtures.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             var _ = lock.lock()) {
            if (present()) return null;
            String python = ZooFixtures.python();
            String probe = ZooFixtures.run(List.of(python, "-c", "import numpy, torch, torchvision"), 120);
            if (probe != null) return python + " cannot import numpy, torch and torchvision (" + probe + ")";
            if (!Files.isRegularFile(SCRIPT)) return "generator " + SCRIPT.toAbsolutePath().normalize() + " not found";
            long t0 = System.nanoTime();
            String out = ZooFixtures.run(List.of(python, SCRIPT.toString(), DIR.toString()), 600);
            if (out != null) return "the generator failed (" + out + ")";
            System.out.printf("[OnnxFixtures] generated into %s in %.1f s%n", DIR.toAbsolutePath().normalize(), (System.nanoTime() - t0) / 1e9);
            return present() ? null : "the generator ran but the manifest is missing or has the wrong version";
        }
    }

    private static boolean present() {
        Path manifest = DIR.resolve("manifest.json");
        if (!Files.isRegularFile(manifest)) return false;
        try {
            if (new ObjectMapper().readTree(manifest.toFile()).path("version").asInt() != VERSION) return false;
        } catch (IOException e) {
            return false;
        }
        for (String c : CASES)
            for (String suffix : List.of(".onnx", ".input.npy", ".logits.npy"))
                if (!Files.isRegularFile(DIR.resolve(c + suffix))) return false;
        return true;
    }
}
