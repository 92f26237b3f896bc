package dev.graft.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft inspect FILE}: the format and the tensors or graph of a weight or model file. */
@Command(name = "inspect",
        description = "Describe a weight or model file (safetensors, PyTorch .pth, TFLite, ONNX): format, tensors or graph.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Parameters(paramLabel = "FILE", description = "The file to describe.")
    Path file;

    @Override
    public Integer call() {
        String text = ModelOptions.open(ModelOptions.existingFile(file, "file")).describe();
        spec.commandLine().getOut().println(text.stripTrailing());
        return 0;
    }
}
