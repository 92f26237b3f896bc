package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.backend.cuda.CudaBackend;
import dev.graft.backend.cuda.CudaProbe;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
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
            InfoCommand.row(out, "cuda " + l.role(), text);
        }
        if (r.devices().isEmpty()) InfoCommand.row(out, "gpus", "none");
        for (CudaProbe.Device d : r.devices())
            InfoCommand.row(out, "gpu " + d.ordinal(), String.format(Locale.ROOT, "%s, compute capability %d.%d, %.1f GiB",
                    d.name(), d.major(), d.minor(), d.totalMemory() / (double) (1L << 30)));
        InfoCommand.row(out, "ptx kernels", InfoCommand.ptxKernels());
        InfoCommand.row(out, "emulation", CudaBackend.emulationAvailable()
                ? "libgraft-emu (Graft's CUDA kernels compiled for the CPU; tests run the CUDA backend on it)" : "not in this build");
        if (r.devices().isEmpty()) {
            InfoCommand.row(out, "ops run on", "cpu: every op (no CUDA device; --device cuda needs an NVIDIA driver and GPU)");
            return 0;
        }
        try {
            CudaBackend cuda = CudaBackend.forDevice(0);
            InfoCommand.row(out, "cuda:0", cuda.gpu().description());
            for (String line : cuda.libraries().paths()) InfoCommand.row(out, "ops run on", line);
        } catch (GraftException e) {
            InfoCommand.row(out, "ops run on", "cpu only: cuda:0 did not open: " + e.getMessage());
        }
        return 0;
    }
}
