package dev.graft.cli;

import dev.graft.backend.Backends;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Parallel;
import dev.graft.kernels.PtxResources;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code graft info}: versions, backends, threads, SIMD width, devices and the data folder. */
@Command(name = "info",
        description = "Show the Java and Graft versions, backends, threads, SIMD width, devices and data folder.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Runtime rt = Runtime.getRuntime();
        row(out, "graft", GraftVersion.version());
        row(out, "java", Runtime.version() + " (" + System.getProperty("java.vendor", "?") + ", " + System.getProperty("java.home") + ")");
        row(out, "os", System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + rt.availableProcessors() + " processors, max heap " + rt.maxMemory() / (1 << 20) + " MiB");
        row(out, "cpu backend", Backends.get(Device.CPU, DType.FLOAT32) + ", " + Parallel.threads() + " thread"
                + (Parallel.threads() == 1 ? "" : "s") + " (-Dgraft.threads=N or --threads)");
        row(out, "reference", Backends.get(Device.CPU, DType.FLOAT64) + " (float64 oracle for gradient checks)");
        row(out, "vector api", "preferred species " + CpuBackend.vectorWidth());
        row(out, "devices", "cpu (available); cuda:N with an NVIDIA driver and GPU (graft doctor says what this machine has)");
        row(out, "ptx kernels", ptxKernels());
        Path data = DataDirectory.resolve();
        row(out, "data", data + (Files.isDirectory(data) ? "" : " (missing)") + " (-Dgraft.data=DIR or GRAFT_DATA)");
        return 0;
    }

    /** The PTX kernels built into this Graft, with their architectures and nvcc version. */
    static String ptxKernels() {
        return PtxResources.build()
                .map(b -> String.join(", ", b.kernels()) + " for "
                        + b.archs().stream().map(a -> "sm_" + a).collect(Collectors.joining(", "))
                        + " (nvcc " + b.nvccVersion() + ")")
                .orElse("none (built without nvcc)");
    }

    /** One "key  value" line of {@code info} and {@code doctor}. */
    static void row(PrintWriter out, String key, String value) {
        out.println(String.format(Locale.ROOT, "%-12s %s", key, value));
    }
}
