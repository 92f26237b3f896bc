package dev.graft.cli;

import dev.graft.backend.cuda.CudaProbe;
import dev.graft.kernels.PtxResources;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code graft doctor}: which GPU libraries this machine has and what each said: the NVIDIA driver
 * (and its GPUs), the CUDA runtime, cuBLAS and cuDNN, each opened through the system's loader and
 * asked for its version ({@link CudaProbe}), then the PTX kernels built into this Graft and which
 * device runs the ops. Always exits 0: a missing library is an answer, not an error.
 */
@Command(name = "doctor",
        description = "Report the NVIDIA driver, GPUs, CUDA runtime, cuBLAS and cuDNN found on this machine, and the device ops run on.")
final class DoctorCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        CudaProbe.Report r = CudaProbe.probe();
        for (CudaProbe.Library l : r.libraries()) {
            String text = l.isLoaded() ? l.loaded() + (l.version() == null ? "" : " " + l.version()) + ": " + l.detail() : l.detail();
            row(out, "cuda " + l.role(), text);
        }
        if (r.devices().isEmpty()) row(out, "gpus", "none");
        for (CudaProbe.Device d : r.devices())
            row(out, "gpu " + d.ordinal(), String.format(Locale.ROOT, "%s, compute capability %d.%d, %.1f GiB",
                    d.name(), d.major(), d.minor(), d.totalMemory() / (double) (1L << 30)));
        row(out, "ptx kernels", PtxResources.build()
                .map(b -> String.join(", ", b.kernels()) + " for "
                        + b.archs().stream().map(a -> "sm_" + a).collect(Collectors.joining(", ")) + " (nvcc " + b.nvccVersion() + ")")
                .orElse("none (built without nvcc)"));
        row(out, "ops run on", "cpu: every op (the CUDA backend is not built yet)");
        return 0;
    }

    private static void row(PrintWriter out, String key, String value) {
        out.println(String.format(Locale.ROOT, "%-13s %s", key, value));
    }
}
