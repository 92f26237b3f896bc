package dev.graft.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.data.Preprocessor;
import dev.graft.models.ImageClassifier;
import dev.graft.ops.Reductions;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft classify}: the top-k classes of images under a pretrained classifier. Each image is
 * preprocessed as the model expects, run in eval mode, and the softmax of the logits ranked. An image
 * that cannot be read is reported on one line and skipped; the exit code is then 1.
 */
@Command(name = "classify",
        description = "Classify images with a pretrained model: top-k classes with their probabilities.")
final class ClassifyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--weights", required = true, paramLabel = "FILE|ID", description = "Weight or model file, or a known weights id.")
    String weights;

    @Option(names = "--model", paramLabel = "NAME", description = "Architecture of a state-dict file (guessed from the keys if omitted).")
    String model;

    @Option(names = "--labels", paramLabel = "FILE", description = {"Class names, one a line. Default: for 1001 classes "
            + ModelOptions.IMAGENET_LABELS + " beside the weights if present, else the class indices."})
    Path labels;

    @Option(names = "--topk", paramLabel = "K", description = "Classes to show per image (default: ${DEFAULT-VALUE}).")
    int topk = 5;

    @Option(names = "--json", description = "One JSON object per image: {\"image\": ..., \"top\": [{\"index\": ..., \"label\": ..., \"prob\": ...}]}.")
    boolean json;

    @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files (JPEG, PNG, BMP, GIF).")
    List<Path> images;

    record Prediction(int index, String label, float prob) {}

    @Override
    public Integer call() {
        if (topk < 1) throw new ParameterException(spec.commandLine(), "--topk must be at least 1, got " + topk);
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Path weightsFile = ModelOptions.weights(weights);
        ImageClassifier net = ModelOptions.classifier(ModelOptions.open(weightsFile), model);
        Preprocessor pre = Preprocessor.eval(net.preprocessing());
        List<String> names = null;
        int failed = 0;
        for (Path image : images) {
            float[] probs;
            try {
                probs = probabilities(net, pre.file(image));
            } catch (GraftException e) {
                err.println("graft: " + Main.oneLine(e.getMessage()));
                err.flush();
                failed++;
                continue;
            }
            if (names == null) names = ModelOptions.labels(labels, weightsFile, probs.length);
            List<Prediction> top = top(probs, Math.min(topk, probs.length), names);
            out.println(json ? json(image, top) : text(image, top));
            out.flush();
        }
        return failed == 0 ? 0 : Main.EXIT_ERROR;
    }

    /** The softmax of the model's logits for one preprocessed image [1, 3, H, W]. */
    static float[] probabilities(ImageClassifier net, Tensor x) {
        try (var scope = Autograd.noGrad()) {
            Tensor logits = net.forward(x);
            return Reductions.softmax(logits.reshape(1, -1), 1).toFloatArray();
        }
    }

    /** The {@code k} most probable classes, most probable first (ties: lower index first). */
    static List<Prediction> top(float[] probs, int k, List<String> names) {
        return IntStream.range(0, probs.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(i -> -probs[i]).thenComparingInt(i -> i))
                .limit(k).map(i -> new Prediction(i, names.get(i), probs[i])).toList();
    }

    static String text(Path image, List<Prediction> top) {
        StringBuilder sb = new StringBuilder(image.toString()).append(':');
        for (Prediction p : top)
            sb.append(String.format(Locale.ROOT, "%n  %5d  %.4f  %s", p.index(), p.prob(), p.label()));
        return sb.toString();
    }

    /** One line: {@code {"image": "...", "top": [{"index": i, "label": "...", "prob": p}, ...]}}. */
    static String json(Path image, List<Prediction> top) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("image", image.toString());
        List<Map<String, Object>> list = new ArrayList<>();
        for (Prediction p : top) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", p.index());
            m.put("label", p.label());
            m.put("prob", p.prob());
            list.add(m);
        }
        row.put("top", list);
        try {
            return JSON.writeValueAsString(row);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final ObjectWriter JSON = new ObjectMapper().writer(new SpacedPrinter());

    /** Compact JSON on one line with a space after ':' and ',' (as Python's json.dumps writes it). */
    private static final class SpacedPrinter extends MinimalPrettyPrinter {
        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }
    }
}
