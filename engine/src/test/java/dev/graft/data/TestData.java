package dev.graft.data;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * The shared reference data folder (hymenoptera/, zoo/, ...): system property {@code graft.data}
 * (the parent pom passes it to surefire), else environment variable {@code GRAFT_DATA}, else
 * {@code ../shared/data} beside the checkout. Tests that need it are skipped when it is missing,
 * except on CI ({@code CI=true}) where a missing folder fails them.
 */
final class TestData {
    private TestData() {}

    static boolean onCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** The data folder, or skips (fails on CI) the calling test when it is missing. */
    static Path dir() {
        String p = System.getProperty("graft.data");
        if (p == null || p.isBlank()) p = System.getenv("GRAFT_DATA");
        Path dir = p == null || p.isBlank() ? Path.of("..", "..", "shared", "data") : Path.of(p);
        dir = dir.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir.resolve("hymenoptera"))) {
            String why = "reference data folder " + dir + " (with hymenoptera/ and zoo/) not found; set -Dgraft.data or GRAFT_DATA";
            if (onCi()) throw new AssertionError(why);
            Assumptions.abort(why);
        }
        return dir;
    }
}
