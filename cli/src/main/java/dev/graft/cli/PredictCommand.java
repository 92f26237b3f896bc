package dev.graft.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.data.Preprocessor;
import dev.graft.models.ImageClassifier;
import dev.graft.ops.Reductions;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.Checkpoint;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft predict}: classifies images with a checkpoint of {@code graft finetune}. */
@Command(name = "predict", sortOptions = false, description = "Classify images with a model trained by 'graft finetune'.")
final class PredictCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

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
    public Integer call() throws Exception {
        if (topk < 1) throw new GraftException("--topk must be at least 1, got " + topk);
        Checkpoint.Loaded loaded = Checkpoint.load(checkpoint);
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Preprocessor pre = Preprocessor.eval(loaded.model().preprocessing());
        int failed = 0;
        for (Path image : images) {
            float[] probs;
            try {
                probs = probabilities(loaded.model(), pre.file(image));
            } catch (GraftException e) {
                err.println("graft: " + Main.oneLine(e.getMessage()));
                failed++;
                continue;
            }
            List<Map<String, Object>> top = top(probs, loaded.classes(), topk);
            if (json) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("image", image.toString());
                line.put("top", top);
                out.println(JSON.writeValueAsString(line));
            } else {
                out.println(image);
                for (Map<String, Object> t : top) out.printf("  %6.4f  %s (%s)%n", (Double) t.get("prob"), t.get("label"), t.get("index"));
            }
        }
        out.flush();
        return failed == 0 ? 0 : Main.EXIT_ERROR;
    }

    /** Softmax probabilities of one image batch {@code [1, 3, H, W]} through an eval-mode model. */
    static float[] probabilities(ImageClassifier model, Tensor x) {
        model.eval();
        try (var _ = Autograd.noGrad()) {
            return Reductions.softmax(model.forward(x), -1).toFloatArray();
        }
    }

    /** The k most probable classes, most probable first, as {index, label, prob} maps. */
    static List<Map<String, Object>> top(float[] probs, List<String> labels, int k) {
        Integer[] order = new Integer[probs.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Float.compare(probs[b], probs[a]));
        List<Map<String, Object>> top = new ArrayList<>();
        for (int i = 0; i < Math.min(k, probs.length); i++) {
            int c = order[i];
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("index", c);
            t.put("label", labels != null && c < labels.size() ? labels.get(c) : Integer.toString(c));
            t.put("prob", (double) probs[c]);
            top.add(t);
        }
        return top;
    }
}
