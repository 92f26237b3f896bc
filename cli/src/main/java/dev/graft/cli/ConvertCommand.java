package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ModelFile;
import dev.graft.zoo.Safetensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft convert IN OUT.safetensors}: any supported file's weights as a float32 safetensors file. */
@Command(name = "convert",
        description = {"Write the weights of any supported file (safetensors, PyTorch .pth, TFLite, ONNX) as float32 safetensors.",
                "Quantized weights are dequantized. OUT is written atomically: it is complete or absent."})
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Parameters(index = "0", paramLabel = "IN", description = "The file to convert.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The safetensors file to write (must end in .safetensors).")
    Path out;

    @Override
    public Integer call() {
        if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors"))
            throw new GraftException("output " + out + " must end in .safetensors");
        ModelFile file = ModelOptions.open(ModelOptions.existingFile(in, "file"));
        if (Files.exists(out) && Files.exists(in) && sameFile(in, out))
            throw new GraftException("output " + out + " is the input file");
        Map<String, Tensor> state = file.stateDict();
        if (state.isEmpty()) throw new GraftException(in + ": no float tensors to convert");
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("graft.source", in.getFileName().toString());
        metadata.put("graft.source_format", file.format());
        Safetensors.write(out, state, metadata);
        spec.commandLine().getOut().println("wrote " + out + ": " + state.size() + " tensors from " + file.format() + " file " + in.getFileName());
        return 0;
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
