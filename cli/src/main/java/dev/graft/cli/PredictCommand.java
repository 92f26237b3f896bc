package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.data.Preprocessor;
import dev.graft.models.ImageClassifier;
import dev.graft.zoo.Checkpoint;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft predict}: classifies images with a checkpoint of {@code graft finetune}. */
@Command(name = "predict", sortOptions = false, description = "Classify images with a model trained by 'graft finetune'.")
final class PredictCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "The --out folder of 'graft finetune'.")
    Path checkpoint;

    @Option(names = "--topk", paramLabel = "K", description = "Classes to show per image (default: ${DEFAULT-VALUE}).")
    int topk = 3;

    @Option(names = "--json", description = "One JSON line per image: {\"image\", \"top\": [{\"index\", \"label\", \"prob\"}]}.")
    boolean json;

    @Parameters(paramLabel = "IMAGE", arity = "1..*", description = "Image files.")
    List<Path> images;

    @Override
    public Integer call() {
        if (topk < 1) throw new GraftException("--topk must be at least 1, got " + topk);
        Checkpoint.Loaded loaded = Checkpoint.load(checkpoint);
        ImageClassifier model = loaded.model();
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Preprocessor pre = Preprocessor.eval(model.preprocessing());
        int failed = 0;
        for (Path image : images) {
            float[] probs;
            try {
                probs = ClassifyCommand.probabilities(model, pre.file(image));
            } catch (GraftException e) {
                err.println("graft: " + Main.oneLine(e.getMessage()));
                err.flush();
                failed++;
                continue;
            }
            List<ClassifyCommand.Prediction> top = ClassifyCommand.top(probs, Math.min(topk, probs.length), loaded.classes());
            out.println(json ? ClassifyCommand.json(image, top) : ClassifyCommand.text(image, top));
            out.flush();
        }
        return failed == 0 ? 0 : Main.EXIT_ERROR;
    }
}
