package dev.graft.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.GraftException;
import dev.graft.backend.cpu.Parallel;
import dev.graft.data.ImageFolder;
import dev.graft.data.Preprocessor;
import dev.graft.models.ImageClassifier;
import dev.graft.nn.Init;
import dev.graft.tensor.Device;
import dev.graft.train.FineTuneOptions;
import dev.graft.train.FineTuner;
import dev.graft.io.AtomicFiles;
import dev.graft.zoo.Checkpoint;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code graft finetune}: two-phase transfer learning of a pretrained ImageNet classifier on an image
 * folder, with checkpoints, metrics and curves in the output folder.
 */
@Command(name = "finetune", sortOptions = false,
        description = {
            "Fine-tune a pretrained ImageNet classifier on a folder of images, in two phases.",
            "",
            "Phase 'head': the backbone is frozen (BatchNorm in inference mode), its features are computed once,"
                + " and a new Linear classifier trains on them. Phase 'finetune': the backbone is unfrozen (--unfreeze)"
                + " and everything trains with a lower learning rate, augmentation and cosine decay. The best model"
                + " by validation accuracy is kept in OUT/model.safetensors + OUT/model.json; OUT/metrics.json and"
                + " OUT/curves.png describe the run. A killed run continues with --resume OUT.",
            ""})
final class FinetuneCommand implements Callable<Integer> {
    static final String DEFAULT_WEIGHTS = "torchvision:mobilenet_v2";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--data", paramLabel = "DIR", description = "Image folder: DIR/train + DIR/val (or DIR/validation), or DIR/<class>/* with --val-split.")
    Path data;

    @Option(names = "--val-split", paramLabel = "F", description = "Fraction of each class held out for validation when DIR has no train/val folders (default: ${DEFAULT-VALUE}).")
    double valSplit = 0.2;

    @Option(names = "--weights", paramLabel = "FILE|ID", description = "Pretrained weights: a .pth/.safetensors/.tflite/.onnx file or a known id (default: " + DEFAULT_WEIGHTS + ").")
    String weights;

    @Option(names = "--model", paramLabel = "NAME", description = "Architecture of a state-dict file (resnet18, resnet34, resnet50, resnet101, mobilenet_v2); guessed when omitted.")
    String model;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("graft-run");

    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Device (default: ${DEFAULT-VALUE}).")
    String device = "cpu";

    @Option(names = "--head-epochs", paramLabel = "N", description = "Epochs of phase 'head' (default: 20).")
    Integer headEpochs;

    @Option(names = "--finetune-epochs", paramLabel = "N", description = "Epochs of phase 'finetune' (default: 3).")
    Integer finetuneEpochs;

    @Option(names = "--batch", paramLabel = "N", description = "Batch size (default: 32).")
    Integer batch;

    @Option(names = "--lr-head", paramLabel = "X", description = "AdamW learning rate of phase 'head' (default: 1e-3).")
    Double lrHead;

    @Option(names = "--lr-finetune", paramLabel = "Y", description = "AdamW learning rate of phase 'finetune' (default: 1e-4).")
    Double lrFinetune;

    @Option(names = "--unfreeze", paramLabel = "all|LAYER|N", description = "What trains in phase 'finetune': all, from LAYER on, or the last N blocks (default: all).")
    String unfreeze;

    @Option(names = "--train-bn", description = "Let BatchNorm layers update their statistics in phase 'finetune' (default: inference mode).")
    boolean trainBn;

    @Option(names = "--layer-decay", paramLabel = "D", description = "Learning rate factor per block counted back from the top in phase 'finetune' (default: 1).")
    Double layerDecay;

    @Option(names = "--patience", paramLabel = "N", description = "Early stopping: epochs without a lower validation loss (0: off; default: 5).")
    Integer patience;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the split, the head's initialization, the shuffling and augmentation (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads (default: every core).")
    Integer threads;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue the interrupted run whose --out was DIR, with its settings.")
    Path resume;

    @Option(names = "--no-progress", description = "No progress bars, only a line per epoch.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        boolean resuming = resume != null;
        if (resuming) loadRunSettings(resume);
        if (data == null) throw new GraftException("missing --data DIR (a folder of class folders, or with train/ and val/)");
        Device dev = ModelOptions.backend(device).device();
        if (threads != null) Parallel.setThreads(threads);
        FineTuneOptions options = options().device(dev);

        ImageFolder.Split split = ImageFolder.split(data, valSplit, seed);
        List<String> classes = split.train().classes();
        String weightsId = weights == null ? DEFAULT_WEIGHTS : weights;
        Path weightsFile = ModelOptions.weights(weightsId);
        ImageClassifier net = ModelOptions.classifier(ModelOptions.open(weightsFile), model);
        Init.manualSeed(seed); // the new head's initial weights follow --seed, as torch.manual_seed would
        net.replaceClassifier(classes.size());

        Files.createDirectories(out);
        if (!resuming) saveRunSettings(weightsId);
        err.printf("graft finetune: %s (%s, %d features) on %s: %d classes %s, %d train / %d val images%n", weightsFile.getFileName(),
                net.architecture(), net.numFeatures(), data, classes.size(), classes, split.train().size(), split.val().size());
        err.printf("settings: %s, device=%s, threads=%d, out=%s%s%n", options.describe(), dev, Parallel.threads(), out,
                resuming ? " (resumed)" : "");

        Preprocessor plain = Preprocessor.eval(net.preprocessing()), augmented = Preprocessor.train(net.preprocessing());
        Progress progress = new Progress(err, !noProgress);
        Listener listener = new Listener(progress, classes);
        FineTuner.Result result;
        try {
            result = new FineTuner(net, split, plain, augmented, plain.sampleShape(), options, listener, out.resolve("resume")).run(resuming);
        } finally {
            progress.close();
        }

        Map<String, Object> metrics = metrics(net, classes, result);
        byte[] json = JSON.writeValueAsBytes(metrics);
        AtomicFiles.write(out.resolve("metrics.json"), o -> o.write(json));
        Curves.write(out.resolve("curves.png"), result.history(), net.architecture() + " on " + data.getFileName());
        printSummary(err, result);
        if (!result.skipped().isEmpty()) {
            err.printf("skipped %d unreadable image(s):%n", result.skipped().size());
            result.skipped().forEach(s -> err.printf("  %s: %s%n", s.sample(), s.reason()));
        }
        if (result.stoppedBecause() != null && !result.stoppedBecause().startsWith("early stopping")) {
            err.println("graft: stopped: " + result.stoppedBecause() + "; the best checkpoint so far is in " + out);
            return Main.EXIT_ERROR;
        }
        err.printf("best val accuracy %.4f; checkpoint %s, metrics %s, curves %s (%.1f s)%n", result.bestValAcc(),
                out.resolve(Checkpoint.WEIGHTS), out.resolve("metrics.json"), out.resolve("curves.png"), result.totalSeconds());
        return 0;
    }

    FineTuneOptions options() {
        FineTuneOptions o = new FineTuneOptions().seed(seed);
        if (headEpochs != null) o.headEpochs(headEpochs);
        if (finetuneEpochs != null) o.finetuneEpochs(finetuneEpochs);
        if (batch != null) o.batchSize(batch);
        if (lrHead != null) o.lrHead(lrHead);
        if (lrFinetune != null) o.lrFinetune(lrFinetune);
        if (unfreeze != null) o.unfreeze(unfreeze);
        if (layerDecay != null) o.layerDecay(layerDecay);
        if (patience != null) o.patience(patience);
        o.trainBn(trainBn);
        return o;
    }

    /** What --resume needs to rebuild the same run: written once at the start into OUT/run.json. */
    private void saveRunSettings(String weightsId) throws IOException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("data", data.toAbsolutePath().toString());
        r.put("val_split", valSplit);
        r.put("weights", Files.exists(Path.of(weightsId)) ? Path.of(weightsId).toAbsolutePath().toString() : weightsId);
        r.put("model", model);
        r.put("seed", seed);
        r.put("options", options().describe());
        byte[] json = JSON.writeValueAsBytes(r);
        AtomicFiles.write(out.resolve("run.json"), o -> o.write(json));
    }

    private void loadRunSettings(Path dir) throws IOException {
        Path f = dir.resolve("run.json");
        if (!Files.isRegularFile(f)) throw new GraftException("--resume " + dir + ": no run.json there (not the --out folder of a 'graft finetune' run)");
        JsonNode r = JSON.readTree(f.toFile());
        out = dir;
        data = Path.of(r.path("data").asText());
        valSplit = r.path("val_split").asDouble(valSplit);
        weights = r.path("weights").asText(null);
        model = r.path("model").isNull() ? null : r.path("model").asText(null);
        seed = r.path("seed").asLong();
        JsonNode o = r.path("options");
        headEpochs = o.path("head_epochs").asInt();
        finetuneEpochs = o.path("finetune_epochs").asInt();
        batch = o.path("batch").asInt();
        lrHead = o.path("lr_head").asDouble();
        lrFinetune = o.path("lr_finetune").asDouble();
        unfreeze = o.path("unfreeze").asText();
        trainBn = o.path("train_bn").asBoolean();
        layerDecay = o.path("layer_decay").asDouble();
        patience = o.path("patience").asInt();
    }

    static Map<String, Object> metrics(ImageClassifier net, List<String> classes, FineTuner.Result result) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", net.architecture());
        m.put("classes", classes);
        List<Object> phases = new ArrayList<>();
        for (FineTuner.PhaseResult p : result.phases()) {
            Map<String, Object> ph = new LinkedHashMap<>();
            ph.put("name", p.name());
            ph.put("epochs", p.epochs());
            ph.put("train_loss", p.trainLoss());
            ph.put("val_loss", p.valLoss());
            ph.put("val_acc", p.valAcc());
            ph.put("seconds", p.seconds());
            phases.add(ph);
        }
        m.put("phases", phases);
        m.put("best_val_acc", result.bestValAcc());
        m.put("skipped_images", result.skipped().stream().map(s -> s.sample()).toList());
        m.put("total_seconds", result.totalSeconds());
        List<Object> epochs = new ArrayList<>();
        for (FineTuner.EpochMetrics e : result.history()) epochs.add(e);
        m.put("history", epochs);
        if (result.stoppedBecause() != null) m.put("stopped_because", result.stoppedBecause());
        return m;
    }

    private static void printSummary(PrintWriter err, FineTuner.Result result) {
        err.println();
        err.printf("%-9s %6s %10s %10s %8s %9s%n", "phase", "epochs", "train_loss", "val_loss", "val_acc", "seconds");
        for (FineTuner.PhaseResult p : result.phases())
            err.printf("%-9s %6d %10.4f %10.4f %8.4f %9.1f%n", p.name(), p.epochs(), p.trainLoss(), p.valLoss(), p.valAcc(), p.seconds());
    }

    /** Saves the best model and reports progress. */
    private final class Listener implements FineTuner.Listener {
        private final Progress progress;
        private final List<String> classes;

        Listener(Progress progress, List<String> classes) {
            this.progress = progress;
            this.classes = classes;
        }

        @Override
        public void phaseStarted(String phase, int epochs, int batches) {
            progress.phase(phase, epochs, batches);
        }

        @Override
        public void batchDone(String phase, int epoch, int batch, int batches, double runningLoss, double runningAcc) {
            progress.batch(phase, epoch, batch, batches, runningLoss, runningAcc);
        }

        @Override
        public void epochDone(FineTuner.EpochMetrics m) {
            progress.epoch(m);
        }

        @Override
        public void newBest(FineTuner.EpochMetrics m, ImageClassifier model) {
            Checkpoint.save(out, model, classes);
        }

        @Override
        public void message(String line) {
            progress.message(line);
        }
    }
}
