package dev.graft.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    private String[] listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
        }
    }

    @Test
    void writesAndReplaces() throws IOException {
        Path f = dir.resolve("a.bin");
        AtomicFiles.write(f, out -> out.write(new byte[] {1, 2, 3}));
        AtomicFiles.write(f, out -> out.write(new byte[] {4}));
        assertThat(Files.readAllBytes(f)).containsExactly(4);
        assertThat(listing()).containsExactly("a.bin");
    }

    @Test
    void failedWriteLeavesTheTargetAndNoTemporaryFile() throws IOException {
        Path f = dir.resolve("a.bin");
        Files.write(f, new byte[] {9, 9});
        assertThatThrownBy(() -> AtomicFiles.write(f, out -> {
            out.write(new byte[1000]);
            throw new IOException("disk full");
        })).hasMessage("disk full");
        assertThat(Files.readAllBytes(f)).containsExactly(9, 9);
        assertThat(listing()).containsExactly("a.bin");
    }

    @Test
    void refusesMissingDirectoryAndDirectoryTarget() {
        assertThatThrownBy(() -> AtomicFiles.write(dir.resolve("x/y.bin"), out -> {})).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> AtomicFiles.write(dir, out -> {})).hasMessageContaining("is a directory");
    }
}
