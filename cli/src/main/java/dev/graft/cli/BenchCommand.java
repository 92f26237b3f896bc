package dev.graft.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.autograd.Autograd;
import dev.graft.backend.cpu.Parallel;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.ops.Losses;
import dev.graft.optim.SGD;
import dev.graft.tensor.MemoryScope;
import dev.graft.tensor.Tensor;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code graft bench}: images per second of a whole model on random 224×224 inputs, a training step
 * (forward, backward, SGD with momentum, every layer trainable) or an eval-mode forward, after
 * warm-up; the median over the timed iterations.
 */
@Command(name = "bench", sortOptions = false,
        description = "Measure a model's training or inference speed (images/s, median of the timed iterations after warm-up).")
final class BenchCommand implements Callable<Integer> {
    enum Mode { train, infer }

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--model", required = true, paramLabel = "NAME", description = "resnet18, resnet34, resnet50, resnet101 or mobilenet_v2.")
    String model;

    @Option(names = "--mode", paramLabel = "train|infer", description = "train: forward, backward and an SGD-momentum step; infer: eval-mode forward (default: ${DEFAULT-VALUE}).")
    Mode mode = Mode.train;

    @Option(names = "--batch", paramLabel = "B", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 16;

    @Option(names = "--iters", paramLabel = "N", description = "Timed iterations (default: ${DEFAULT-VALUE}).")
    int iters = 5;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed iterations first (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Device (default: ${DEFAULT-VALUE}).")
    String device = "cpu";

    @Option(names = "--threads", paramLabel = "T", description = "Compute threads (default: every core).")
    Integer threads;

    @Option(names = "--json", description = "One JSON line: {\"model\", \"mode\", \"batch\", \"images_per_second\", ...}.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (!Models.NAMES.contains(model)) throw new GraftException("unknown model '" + model + "' (known: " + String.join(", ", Models.NAMES) + ")");
        if (batch < 1 || iters < 1 || warmup < 0) throw new GraftException("--batch and --iters must be at least 1, --warmup at least 0");
        Backend backend = ModelOptions.backend(device);
        if (threads != null) Parallel.setThreads(threads);
        ImageClassifier net = Models.create(model, 1000);
        net.to(backend);
        SplittableRandom rng = new SplittableRandom(1);
        Tensor x = Tensor.randn(rng, batch, 3, 224, 224).to(backend);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.nextInt(1000);
        SGD sgd = new SGD(net.trainableParameters(), 0.01, 0.9, 1e-4);
        if (mode == Mode.train) net.train();
        else net.eval();
        double[] seconds = new double[iters];
        for (int i = -warmup; i < iters; i++) {
            long t0 = System.nanoTime();
            // The step's temporaries are recycled at its end, as FineTuner does.
            try (var _ = MemoryScope.open()) {
                if (mode == Mode.train) {
                    Tensor loss = Losses.crossEntropy(net.forward(x), labels);
                    sgd.zeroGrad();
                    loss.backward();
                    sgd.step();
                } else {
                    try (var _ = Autograd.noGrad()) {
                        net.forward(x).toFloatArray();
                    }
                }
            }
            backend.synchronize();  // the GPU queues kernels; the step ends when they have run
            if (i >= 0) seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        double[] sorted = seconds.clone();
        Arrays.sort(sorted);
        double median = iters % 2 == 1 ? sorted[iters / 2] : (sorted[iters / 2 - 1] + sorted[iters / 2]) / 2;
        double ips = batch / median;
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("model", model);
            r.put("mode", mode.name());
            r.put("batch", batch);
            r.put("images_per_second", ips);
            r.put("median_seconds", median);
            r.put("iters", iters);
            r.put("threads", Parallel.threads());
            r.put("device", device);
            r.put("engine", "graft");
            out.println(new ObjectMapper().writeValueAsString(r));
        } else {
            out.printf("%s %s batch %d: %.2f images/s (median %.3f s per step over %d, min %.3f, max %.3f; %d threads)%n", model, mode,
                    batch, ips, median, iters, sorted[0], sorted[iters - 1], Parallel.threads());
        }
        out.flush();
        return 0;
    }
}
