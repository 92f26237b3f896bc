package dev.graft.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Keeps the fast-path imports fenced: only the CPU SIMD package touches jdk.incubator.vector. */
class ImportFenceTest {
    @Test
    void onlyTheCpuBackendImportsTheVectorApi() throws IOException {
        Path root = Path.of("src/main/java");
        List<String> offenders;
        try (Stream<Path> files = Files.walk(root)) {
            offenders = files.filter(p -> p.toString().endsWith(".java"))
                    .filter(p -> !root.relativize(p).toString().replace('\\', '/').startsWith("dev/graft/backend/cpu/"))
                    .filter(p -> {
                        try {
                            return Files.readString(p).contains("jdk.incubator.vector");
                        } catch (IOException e) {
                            throw new RuntimeException(e);
                        }
                    })
                    .map(Path::toString).toList();
        }
        assertThat(offenders).as("files outside dev.graft.backend.cpu importing jdk.incubator.vector").isEmpty();
    }
}
