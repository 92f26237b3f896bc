package dev.graft.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.GraftException;
import dev.graft.data.ImageFolder;
import dev.graft.data.Preprocessor;
import dev.graft.zoo.Checkpoint;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code graft evaluate}: accuracy, per-class precision and recall, and the confusion matrix of a checkpoint on an image folder. */
@Command(name = "evaluate", sortOptions = false,
        description = "Evaluate a model trained by 'graft finetune' on an image folder (DIR/<class>/*, or the val/ or validation/ split of DIR).")
final class EvaluateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "The --out folder of 'graft finetune'.")
    Path checkpoint;

    @Option(names = "--data", required = true, paramLabel = "DIR", description = "Folder of class folders; with val/ or validation/ inside, that one.")
    Path data;

    @Option(names = "--json", description = "Print the results as one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Checkpoint.Loaded loaded = Checkpoint.load(checkpoint);
        Path dir = Files.isDirectory(data.resolve("val")) ? data.resolve("val")
                : Files.isDirectory(data.resolve("validation")) ? data.resolve("validation") : data;
        ImageFolder folder = ImageFolder.scan(dir);
        List<String> classes = loaded.classes();
        for (String c : folder.classes())
            if (!classes.contains(c)) throw new GraftException("class folder '" + c + "' in " + dir + " is not one of the model's classes " + classes);
        loaded.model().eval();
        Preprocessor pre = Preprocessor.eval(loaded.model().preprocessing());
        int k = classes.size();
        long[][] confusion = new long[k][k];
        List<String> skipped = new ArrayList<>();
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        for (ImageFolder.Sample s : folder.samples()) {
            int truth = classes.indexOf(folder.classes().get(s.label()));
            float[] p;
            try {
                p = ClassifyCommand.probabilities(loaded.model(), pre.file(s.path()));
            } catch (GraftException e) {
                skipped.add(s.path().toString());
                err.println("graft: skipped " + Main.oneLine(e.getMessage()));
                continue;
            }
            int best = 0;
            for (int c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
            confusion[truth][best]++;
        }
        long total = 0, correct = 0;
        double[] precision = new double[k], recall = new double[k];
        for (int c = 0; c < k; c++) {
            long predicted = 0, actual = 0;
            for (int o = 0; o < k; o++) {
                predicted += confusion[o][c];
                actual += confusion[c][o];
                total += confusion[c][o];
            }
            correct += confusion[c][c];
            precision[c] = predicted == 0 ? Double.NaN : (double) confusion[c][c] / predicted;
            recall[c] = actual == 0 ? Double.NaN : (double) confusion[c][c] / actual;
        }
        double accuracy = total == 0 ? Double.NaN : (double) correct / total;
        if (json) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("data", dir.toString());
            r.put("images", total);
            r.put("accuracy", accuracy);
            r.put("classes", classes);
            r.put("precision", precision);
            r.put("recall", recall);
            r.put("confusion", confusion);
            r.put("skipped_images", skipped);
            out.println(new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(r));
        } else {
            out.printf("%s: %d images, accuracy %.4f (%d/%d)%n", dir, total, accuracy, correct, total);
            int w = Math.max(8, classes.stream().mapToInt(String::length).max().orElse(8));
            out.printf("%-" + w + "s %9s %9s%n", "class", "precision", "recall");
            for (int c = 0; c < k; c++) out.printf("%-" + w + "s %9.4f %9.4f%n", classes.get(c), precision[c], recall[c]);
            out.println("confusion matrix (rows: true class, columns: predicted):");
            out.printf("%-" + w + "s", "");
            for (String c : classes) out.printf(" %" + Math.max(6, c.length()) + "s", c);
            out.println();
            for (int r = 0; r < k; r++) {
                out.printf("%-" + w + "s", classes.get(r));
                for (int c = 0; c < k; c++) out.printf(" %" + Math.max(6, classes.get(c).length()) + "d", confusion[r][c]);
                out.println();
            }
            if (!skipped.isEmpty()) out.printf("skipped %d unreadable image(s)%n", skipped.size());
        }
        out.flush();
        return 0;
    }
}
