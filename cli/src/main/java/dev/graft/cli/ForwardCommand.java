package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.autograd.Autograd;
import dev.graft.io.Npy;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ModelFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code graft forward}: one eval-mode forward pass of a raw NCHW float32 batch from a .npy file (no
 * preprocessing), the output saved as .npy. A TFLite or ONNX file runs its graph as stored (a final
 * softmax included); a state dict runs its architecture ({@code --model}, or guessed from the keys),
 * which outputs logits.
 */
@Command(name = "forward",
        description = {"Run a model in eval mode on a raw NCHW float32 batch (.npy, no preprocessing) and save the output (.npy).",
                "TFLite and ONNX files run their graph as stored; state dicts run --model (guessed from the keys if omitted)."})
final class ForwardCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--model", paramLabel = "NAME", description = "Architecture of a state-dict file (resnet18, mobilenet_v2, ...; guessed from the keys if omitted; not used for TFLite or ONNX).")
    String model;

    @Option(names = "--weights", required = true, paramLabel = "FILE|ID", description = "Weight or model file, or a known weights id.")
    String weights;

    @Option(names = "--input", required = true, paramLabel = "X.npy", description = "Input batch, shape [N, C, H, W].")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "Y.npy", description = "Where to write the output (atomically).")
    Path output;

    @Option(names = "--device", paramLabel = "DEV", description = "cpu or cuda[:N] (default: ${DEFAULT-VALUE}).")
    String device = "cpu";

    @Override
    public Integer call() {
        Backend backend = ModelOptions.backend(device);
        Path weightsFile = ModelOptions.weights(weights);
        Tensor x = Npy.read(ModelOptions.existingFile(input, "input"));
        if (x.dim() != 4) throw new GraftException("input " + input + " has shape " + Arrays.toString(x.shape()) + "; expected [N, C, H, W]");
        ModelFile file = ModelOptions.open(weightsFile);
        Module net = file.graph().<Module>map(g -> g).orElseGet(() -> ModelOptions.classifier(file, model));
        net.eval();
        net.to(backend);
        Tensor y;
        try (var scope = Autograd.noGrad()) {
            y = net.forward(x.to(backend));
        }
        Npy.write(output, y);
        spec.commandLine().getOut().println("wrote " + output + ": shape " + Arrays.toString(y.shape()));
        return 0;
    }
}
