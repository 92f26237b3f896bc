package dev.graft.cli;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Shared test data (see {@link DataDirectory}: -Dgraft.data, $GRAFT_DATA, ../shared/data). A missing
 * file skips the test, except in CI ({@code CI=true}), where it fails it.
 */
final class TestData {
    private TestData() {}

    static Path file(String relative) {
        Path p = DataDirectory.resolve().resolve(relative);
        if (!Files.isRegularFile(p)) {
            String why = "test data " + p + " is missing (-Dgraft.data=DIR or GRAFT_DATA)";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) fail(why);
            Assumptions.abort(why);
        }
        return p;
    }

    /** A folder of the shared data (a dataset), with the same rules as {@link #file}. */
    static Path dir(String relative) {
        Path p = DataDirectory.resolve().resolve(relative);
        if (!Files.isDirectory(p)) {
            String why = "test data folder " + p + " is missing (-Dgraft.data=DIR or GRAFT_DATA)";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) fail(why);
            Assumptions.abort(why);
        }
        return p;
    }

    static Path zoo(String name) {
        return file("zoo/" + name);
    }
}
