package dev.graft.zoo.tflite;

import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * The shared data directory: system property {@code graft.data} (the parent pom passes it to surefire),
 * else environment variable {@code GRAFT_DATA}, else {@code ../shared/data} relative to the repository.
 * A missing file skips the test, except in CI ({@code CI=true}), where it fails it.
 */
final class TestData {
    private TestData() {}

    static Path dir() {
        String p = System.getProperty("graft.data");
        if (p == null || p.isBlank() || p.contains("${")) p = System.getenv("GRAFT_DATA");
        if (p != null && !p.isBlank()) return Path.of(p);
        // surefire runs in the module directory: repository root is its parent
        Path here = Path.of("").toAbsolutePath();
        Path root = Files.exists(here.resolve("zoo-import")) ? here : here.getParent();
        return root.resolve("../shared/data").normalize();
    }

    /** The file at {@code relative} under the data directory; skips (or fails in CI) when it is missing. */
    static Path require(String relative) {
        Path f = dir().resolve(relative);
        if (!Files.isRegularFile(f)) {
            String message = "test data file " + f + " is missing";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) fail(message);
            Assumptions.abort(message);
        }
        return f;
    }

    /** A Coral/TFLite zoo file: {@code zoo/<name>}. */
    static Path zoo(String name) {
        return require("zoo/" + name);
    }
}
