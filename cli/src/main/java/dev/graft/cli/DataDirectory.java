package dev.graft.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where datasets and pretrained weights live: {@code -Dgraft.data=DIR}, else {@code $GRAFT_DATA}, else
 * {@code ../shared/data} beside the Graft checkout (found from the jar's location, then the working
 * directory). Data is never copied into the repository.
 */
final class DataDirectory {
    private DataDirectory() {}

    static Path resolve() {
        String prop = System.getProperty("graft.data");
        if (prop != null && !prop.isBlank()) return Path.of(prop).toAbsolutePath().normalize();
        String env = System.getenv("GRAFT_DATA");
        if (env != null && !env.isBlank()) return Path.of(env).toAbsolutePath().normalize();
        return checkoutRoot().resolve("../shared/data").toAbsolutePath().normalize();
    }

    /** The Graft checkout: the folder holding cli/target/graft.jar (or cli/target/classes), else the working directory. */
    private static Path checkoutRoot() {
        try {
            var source = DataDirectory.class.getProtectionDomain().getCodeSource();
            if (source != null) {
                Path p = Path.of(source.getLocation().toURI()).toAbsolutePath();
                // .../cli/target/graft.jar or .../cli/target/classes
                Path target = p.getParent();
                if (target != null && target.getFileName() != null && target.getFileName().toString().equals("target")) {
                    Path root = target.getParent() == null ? null : target.getParent().getParent();
                    if (root != null && Files.isRegularFile(root.resolve("pom.xml"))) return root;
                }
            }
        } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
            // fall back to the working directory
        }
        return Path.of("").toAbsolutePath();
    }
}
