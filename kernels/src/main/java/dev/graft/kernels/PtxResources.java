package dev.graft.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/**
 * The PTX that {@code build-ptx.sh} compiled into this jar: {@code dev/graft/kernels/<name>.sm_<arch>.ptx}
 * plus {@code ptx.properties} (nvcc version, architectures, kernel sources). A jar built without nvcc
 * holds none, and {@link #build()} is empty. Beside each PTX, where ptxas was found, its cubin
 * ({@code <name>.sm_<arch>.cubin}). The CUDA backend loads these with the driver API.
 */
public final class PtxResources {
    private PtxResources() {}

    private static final String DIR = "/dev/graft/kernels/";

    /** What was compiled: nvcc's version, the compute capabilities (e.g. 80, 90) and the kernel sources. */
    public record Build(String nvccVersion, List<Integer> archs, List<String> kernels, boolean cubins) {}

    /** The PTX build in this jar, or empty when it was built without nvcc. */
    public static Optional<Build> build() {
        try (InputStream in = PtxResources.class.getResourceAsStream(DIR + "ptx.properties")) {
            if (in == null) return Optional.empty();
            Properties p = new Properties();
            p.load(in);
            List<Integer> archs = words(p.getProperty("archs", "")).stream().map(Integer::parseInt).sorted().toList();
            return Optional.of(new Build(p.getProperty("nvcc.version", "?"), archs, words(p.getProperty("kernels", "")),
                    Boolean.parseBoolean(p.getProperty("cubins", "false"))));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + DIR + "ptx.properties", e);
        }
    }

    /**
     * The architecture whose PTX a device of compute capability {@code sm} (e.g. 86) should load: the
     * highest built one not above it (the driver JIT-compiles PTX forward, never backward), or empty.
     */
    public static Optional<Integer> bestArch(List<Integer> built, int sm) {
        return built.stream().filter(a -> a <= sm).max(Integer::compare);
    }

    /**
     * The architecture whose cubin (machine code) runs on a device of compute capability {@code sm}: a
     * built one of the same major version not above it (cubins run forward within a major version only).
     */
    public static Optional<Integer> cubinArch(List<Integer> built, int sm) {
        return built.stream().filter(a -> a / 10 == sm / 10 && a <= sm).max(Integer::compare);
    }

    /** The cubin of kernel source {@code name} for architecture {@code arch}, or empty. */
    public static Optional<byte[]> cubin(String name, int arch) {
        try (InputStream in = PtxResources.class.getResourceAsStream(DIR + name + ".sm_" + arch + ".cubin")) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read cubin " + name + ".sm_" + arch, e);
        }
    }

    /** The PTX text of kernel source {@code name} (e.g. "elementwise") for architecture {@code arch}, or empty. */
    public static Optional<byte[]> ptx(String name, int arch) {
        try (InputStream in = PtxResources.class.getResourceAsStream(DIR + name + ".sm_" + arch + ".ptx")) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read PTX " + name + ".sm_" + arch, e);
        }
    }

    private static List<String> words(String s) {
        return s.isBlank() ? List.of() : Arrays.asList(s.trim().split("\\s+"));
    }
}
