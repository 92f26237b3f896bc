package dev.graft.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.Backend;
import dev.graft.backend.Backends;
import dev.graft.data.DataLoader;
import dev.graft.data.ImageFolder;
import dev.graft.data.ImageFolder.Sample;
import dev.graft.io.AtomicFiles;
import dev.graft.io.Npy;
import dev.graft.models.ImageClassifier;
import dev.graft.nn.Dropout;
import dev.graft.nn.Module;
import dev.graft.ops.Losses;
import dev.graft.optim.AdamW;
import dev.graft.optim.CosineAnnealingLR;
import dev.graft.optim.Optimizer;
import dev.graft.optim.ParamGroup;
import dev.graft.optim.Scheduler;
import dev.graft.tensor.DType;
import dev.graft.tensor.MemoryScope;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Two-phase transfer learning of an {@link ImageClassifier} whose classifier has already been
 * replaced for the new classes:
 * <ol>
 * <li><b>head</b>: the backbone is frozen ({@link ImageClassifier#freezeBackbone()}: no gradients,
 *     BatchNorm in inference mode) and only the classifier trains. Without augmentation the frozen
 *     backbone's features are computed once and the head trains on them, which turns each epoch
 *     into a few milliseconds;
 * <li><b>finetune</b>: the backbone is unfrozen ({@code all}, the last N blocks or from a named layer
 *     on), BatchNorm stays in inference mode unless asked otherwise, and everything trains with a
 *     lower learning rate, cosine decay and augmentation.
 * </ol>
 * After every epoch the model is evaluated on the validation set; a better validation accuracy is
 * reported to the {@link Listener} (which saves the best checkpoint), a phase stops early after
 * {@code patience} epochs without a lower validation loss, and a non-finite loss stops the run.
 * With a state folder, the model and optimizer are saved after every epoch so that
 * {@link #run(boolean) run(true)} continues an interrupted run from its last completed epoch, with
 * the same results as a run that was never interrupted.
 */
public final class FineTuner {
    /** Progress and results as the run goes; every method has an empty default. */
    public interface Listener {
        /** A phase ("features", "head" or "finetune") starts; batches per epoch (or in total for "features"). */
        default void phaseStarted(String phase, int epochs, int batches) {}

        default void batchDone(String phase, int epoch, int batch, int batches, double runningLoss, double runningAcc) {}

        default void epochDone(EpochMetrics metrics) {}

        /** The model now has the best validation accuracy so far: save it. */
        default void newBest(EpochMetrics metrics, ImageClassifier model) {}

        default void message(String line) {}
    }

    /** One epoch's numbers; epoch counts from 1 within its phase. */
    public record EpochMetrics(String phase, int epoch, int epochs, double trainLoss, double trainAcc, double valLoss, double valAcc,
                               double seconds) {}

    /** One phase's summary: its last epoch's numbers and the phase's time. */
    public record PhaseResult(String name, int epochs, double trainLoss, double valLoss, double valAcc, double seconds) {}

    /** The run's outcome; {@code stoppedBecause} is null when it ran to the end. */
    public record Result(List<PhaseResult> phases, List<EpochMetrics> history, double bestValAcc, List<DataLoader.Skipped> skipped,
                         double totalSeconds, String stoppedBecause) {}

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final ImageClassifier model;
    private final ImageFolder.Split data;
    private final DataLoader.Decoder<Sample> plain;
    private final DataLoader.Decoder<Sample> augmented;
    private final int[] sampleShape;
    private final FineTuneOptions o;
    private final Listener listener;
    private final Path stateDir;
    private final Backend backend;

    // run state
    private final List<EpochMetrics> history = new ArrayList<>();
    private final List<DataLoader.Skipped> skipped = new ArrayList<>();
    private double bestValAcc = -1, bestValLoss = Double.POSITIVE_INFINITY;
    private double secondsBefore; // time spent before a resume
    private String stoppedBecause;

    /**
     * @param model       the network with its new classifier (see {@link ImageClassifier#replaceClassifier})
     * @param data        training and validation images
     * @param plain       decodes an image for evaluation (resize, crop, normalize) into {@code sampleShape}
     * @param augmented   decodes with training augmentation (random resized crop, flip)
     * @param sampleShape shape of one decoded sample, e.g. {3, 224, 224}
     * @param stateDir    where per-epoch resume state goes, or null for none
     */
    public FineTuner(ImageClassifier model, ImageFolder.Split data, DataLoader.Decoder<Sample> plain, DataLoader.Decoder<Sample> augmented,
                     int[] sampleShape, FineTuneOptions options, Listener listener, Path stateDir) {
        this.model = model;
        this.data = data;
        this.plain = plain;
        this.augmented = augmented;
        this.sampleShape = sampleShape.clone();
        this.o = options;
        this.listener = listener == null ? new Listener() {} : listener;
        this.stateDir = stateDir;
        this.backend = Backends.get(options.device(), DType.FLOAT32);
    }

    /** A batch's tensor on the training device. */
    private Tensor onDevice(Tensor t) {
        return t.to(backend);
    }

    /** Runs both phases; with {@code resume}, continues from the state folder's last completed epoch. */
    public Result run(boolean resume) {
        long start = System.nanoTime();
        model.to(backend);
        Resume r = resume ? loadResume() : null;
        List<PhaseResult> phases = new ArrayList<>();
        boolean finetuneOnly = r != null && r.phase.equals("finetune");
        if (o.headEpochs > 0 && !finetuneOnly) {
            PhaseResult p = o.augmentHead ? trainFull("head", o.headEpochs, r) : trainHeadOnFeatures(r);
            phases.add(p);
            r = null;
        } else if (finetuneOnly) {
            phases.addAll(phasesFromHistory("head"));
        }
        if (stoppedBecause == null && o.finetuneEpochs > 0) phases.add(trainFull("finetune", o.finetuneEpochs, r));
        double total = secondsBefore + (System.nanoTime() - start) / 1e9;
        return new Result(phases, List.copyOf(history), bestValAcc, List.copyOf(skipped), total, stoppedBecause);
    }

    // ------------------------------------------------------------------ phase 1 on cached features

    private record Features(float[] x, int[] labels, int n, int width) {}

    private PhaseResult trainHeadOnFeatures(Resume r) {
        model.freezeBackbone();
        model.train();
        long extractStart = System.nanoTime(); // the features' time counts in the phase's first epoch
        Features train = extract(data.train(), "train"), val = extract(data.val(), "validation");
        Module head = model.classifier();
        Optimizer opt = new AdamW(List.of(new ParamGroup(head.trainableParameters())), AdamW.Options.lr(o.lrHead).withWeightDecay(o.weightDecay));
        int batches = (train.n + o.batchSize - 1) / o.batchSize;
        Scheduler sched = new Scheduler(opt, new CosineAnnealingLR(o.headEpochs * batches));
        PhaseState ps = new PhaseState();
        int first = 1;
        if (r != null) {
            first = restore(r, opt, sched, ps, batches) + 1;
            if (r.phaseDone) return phasesFromHistory("head").getFirst();
        }
        listener.phaseStarted("head", o.headEpochs, batches);
        for (int epoch = first; epoch <= o.headEpochs && !ps.done; epoch++) {
            long t0 = epoch == first ? extractStart : System.nanoTime();
            int[] order = permutation(train.n, DataLoader.mix(o.seed, 1_000 + epoch, -1));
            Running run = new Running();
            for (int b = 0; b < batches; b++) {
                int from = b * o.batchSize, to = Math.min(train.n, from + o.batchSize);
                float[] x = new float[(to - from) * train.width];
                int[] y = new int[to - from];
                for (int i = from; i < to; i++) {
                    System.arraycopy(train.x, order[i] * train.width, x, (i - from) * train.width, train.width);
                    y[i - from] = train.labels[order[i]];
                }
                Tensor logits = head.forward(onDevice(Tensor.of(x, to - from, train.width)));
                if (!step(opt, logits, y, run, "head", epoch, b)) return finish("head", ps, t0);
                sched.step();
                listener.batchDone("head", epoch, b + 1, batches, run.loss(), run.acc());
            }
            double[] v;
            try (var _ = Autograd.noGrad()) {
                head.eval();
                v = lossAndAccuracy(head.forward(onDevice(Tensor.of(val.x, val.n, val.width))), val.labels);
                head.train();
            }
            endEpoch("head", epoch, o.headEpochs, run, v, t0, ps, opt);
        }
        return finish("head", ps, 0);
    }

    /** The frozen backbone's pooled features of every image, in eval mode. */
    private Features extract(ImageFolder set, String name) {
        boolean training = model.isTraining();
        model.eval();
        try (var loader = new DataLoader<>(set.samples(), Sample::label, plain, sampleShape, o.batchSize, false, o.seed, o.dataThreads, 2);
             var _ = Autograd.noGrad()) {
            listener.phaseStarted("features " + name, 1, loader.batchesPerEpoch());
            List<float[]> chunks = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            int b = 0, width = -1;
            for (var batch : loader.epoch(0)) {
                try (var _ = MemoryScope.open()) {
                    Tensor f = model.features(onDevice(batch.inputs()));
                    width = f.size(1);
                    chunks.add(f.toFloatArray());
                }
                for (int l : batch.labels()) labels.add(l);
                listener.batchDone("features " + name, 1, ++b, loader.batchesPerEpoch(), Double.NaN, Double.NaN);
            }
            addSkipped(loader.skipped());
            float[] x = new float[labels.size() * width];
            int at = 0;
            for (float[] c : chunks) {
                System.arraycopy(c, 0, x, at, c.length);
                at += c.length;
            }
            return new Features(x, labels.stream().mapToInt(Integer::intValue).toArray(), labels.size(), width);
        } finally {
            model.train(training);
        }
    }

    // ------------------------------------------------------------------ full forward/backward phases

    private PhaseResult trainFull(String phase, int epochs, Resume r) {
        Optimizer opt;
        if (phase.equals("head")) {
            model.freezeBackbone();
            opt = new AdamW(List.of(new ParamGroup(model.trainableParameters())), AdamW.Options.lr(o.lrHead).withWeightDecay(o.weightDecay));
        } else {
            opt = new AdamW(Unfreezing.apply(model, o.unfreeze, o.trainBn, o.lrFinetune, o.layerDecay),
                    AdamW.Options.lr(o.lrFinetune).withWeightDecay(o.weightDecay));
        }
        model.train();
        boolean augment = phase.equals("head") ? o.augmentHead : o.augmentFinetune;
        try (var train = new DataLoader<>(data.train().samples(), Sample::label, augment ? augmented : plain, sampleShape, o.batchSize,
                true, o.seed + (phase.equals("head") ? 0 : 7919), o.dataThreads, 3);
             var val = new DataLoader<>(data.val().samples(), Sample::label, plain, sampleShape, o.batchSize, false, o.seed, o.dataThreads, 2)) {
            int batches = train.batchesPerEpoch();
            Scheduler sched = new Scheduler(opt, new CosineAnnealingLR(epochs * batches));
            PhaseState ps = new PhaseState();
            int first = 1;
            if (r != null && r.phase.equals(phase)) {
                first = restore(r, opt, sched, ps, batches) + 1;
                if (r.phaseDone) return phasesFromHistory(phase).getFirst();
            }
            listener.phaseStarted(phase, epochs, batches);
            for (int epoch = first; epoch <= epochs && !ps.done; epoch++) {
                long t0 = System.nanoTime();
                reseedDropout(DataLoader.mix(o.seed, (phase.equals("head") ? 2_000 : 3_000) + epoch, -2));
                model.train();
                Running run = new Running();
                int b = 0;
                for (var batch : train.epoch(epoch)) {
                    try (var _ = MemoryScope.open()) {
                        Tensor logits = model.forward(onDevice(batch.inputs()));
                        if (!step(opt, logits, batch.labels(), run, phase, epoch, b)) return finish(phase, ps, t0);
                    }
                    sched.step();
                    listener.batchDone(phase, epoch, ++b, batches, run.loss(), run.acc());
                }
                addSkipped(train.skipped());
                double[] v = evaluate(val);
                endEpoch(phase, epoch, epochs, run, v, t0, ps, opt);
            }
            return finish(phase, ps, 0);
        }
    }

    /** Mean loss and accuracy over a loader, in eval mode. */
    private double[] evaluate(DataLoader<Sample> loader) {
        model.eval();
        double loss = 0, correct = 0;
        int n = 0;
        try (var _ = Autograd.noGrad()) {
            for (var batch : loader.epoch(0)) {
                double[] la;
                try (var _ = MemoryScope.open()) {
                    la = lossAndAccuracy(model.forward(onDevice(batch.inputs())), batch.labels());
                }
                loss += la[0] * batch.size();
                correct += la[1] * batch.size();
                n += batch.size();
            }
        } finally {
            model.train();
        }
        addSkipped(loader.skipped());
        return new double[] {loss / n, correct / n};
    }

    // ------------------------------------------------------------------ shared pieces

    private static final class Running {
        double loss, correct;
        int n;

        double loss() { return n == 0 ? Double.NaN : loss / n; }
        double acc() { return n == 0 ? Double.NaN : correct / n; }
    }

    private static final class PhaseState {
        double bestLoss = Double.POSITIVE_INFINITY;
        int badEpochs;
        int epochsDone;
        boolean done;
        double seconds;
        EpochMetrics last;
    }

    /** One optimizer step; false (and the run stopped) when the loss is not finite. */
    private boolean step(Optimizer opt, Tensor logits, int[] y, Running run, String phase, int epoch, int batch) {
        Tensor loss = Losses.crossEntropy(logits, y, o.labelSmoothing);
        double l = loss.toFloatArray()[0];
        if (!Double.isFinite(l)) {
            stoppedBecause = "the loss became " + l + " in phase " + phase + ", epoch " + epoch + ", batch " + (batch + 1)
                    + "; stopped, keeping the last good checkpoint (try a lower learning rate)";
            listener.message(stoppedBecause);
            return false;
        }
        opt.zeroGrad();
        loss.backward();
        opt.step();
        run.loss += l * y.length;
        run.correct += correctCount(logits, y);
        run.n += y.length;
        return true;
    }

    private void endEpoch(String phase, int epoch, int epochs, Running run, double[] v, long t0, PhaseState ps, Optimizer opt) {
        double seconds = (System.nanoTime() - t0) / 1e9;
        EpochMetrics m = new EpochMetrics(phase, epoch, epochs, run.loss(), run.acc(), v[0], v[1], seconds);
        history.add(m);
        ps.last = m;
        ps.epochsDone = epoch;
        ps.seconds += seconds;
        listener.epochDone(m);
        if (v[1] > bestValAcc || (v[1] == bestValAcc && v[0] < bestValLoss)) {
            bestValAcc = v[1];
            bestValLoss = v[0];
            listener.newBest(m, model);
        }
        if (v[0] < ps.bestLoss) {
            ps.bestLoss = v[0];
            ps.badEpochs = 0;
        } else if (o.patience > 0 && ++ps.badEpochs >= o.patience) {
            ps.done = true;
            listener.message(phase + ": validation loss has not improved for " + ps.badEpochs + " epochs; stopping the phase early");
        }
        saveResume(phase, epoch, ps, opt);
    }

    private PhaseResult finish(String phase, PhaseState ps, long t0) {
        if (t0 != 0) ps.seconds += (System.nanoTime() - t0) / 1e9;
        EpochMetrics last = ps.last;
        return last == null ? new PhaseResult(phase, 0, Double.NaN, Double.NaN, Double.NaN, ps.seconds)
                : new PhaseResult(phase, ps.epochsDone, last.trainLoss(), last.valLoss(), last.valAcc(), ps.seconds);
    }

    private List<PhaseResult> phasesFromHistory(String phase) {
        List<EpochMetrics> of = history.stream().filter(m -> m.phase().equals(phase)).toList();
        if (of.isEmpty()) return List.of();
        EpochMetrics last = of.getLast();
        return List.of(new PhaseResult(phase, of.size(), last.trainLoss(), last.valLoss(), last.valAcc(),
                of.stream().mapToDouble(EpochMetrics::seconds).sum()));
    }

    static double[] lossAndAccuracy(Tensor logits, int[] y) {
        double loss = Losses.crossEntropy(logits, y).toFloatArray()[0];
        return new double[] {loss, correctCount(logits, y) / (double) y.length};
    }

    static int correctCount(Tensor logits, int[] y) {
        float[] z = logits.detach().contiguous().toFloatArray();
        int classes = logits.size(1), correct = 0;
        for (int i = 0; i < y.length; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (z[i * classes + c] > z[i * classes + best]) best = c;
            if (best == y[i]) correct++;
        }
        return correct;
    }

    private static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private void reseedDropout(long seed) {
        int i = 0;
        for (Module m : model.namedModules().values()) if (m instanceof Dropout d) d.reseed(seed + i++);
    }

    private void addSkipped(List<DataLoader.Skipped> more) {
        for (var s : more) if (skipped.stream().noneMatch(k -> k.sample().equals(s.sample()))) skipped.add(s);
    }

    // ------------------------------------------------------------------ resume state

    private record Resume(String phase, int epoch, boolean phaseDone, Path tensors, JsonNode json) {}

    private void saveResume(String phase, int epoch, PhaseState ps, Optimizer opt) {
        if (stateDir == null) return;
        try {
            Files.createDirectories(stateDir);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            model.stateDict().forEach((k, v) -> tensors.put("model." + k, v));
            opt.stateDict().forEach((k, v) -> tensors.put("optim." + k, v));
            String file = "resume-" + phase + "-" + epoch + ".npz";
            Npy.writeNpz(stateDir.resolve(file), tensors);
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("phase", phase);
            j.put("epoch", epoch);
            j.put("phase_done", ps.done || epoch == (phase.equals("head") ? o.headEpochs : o.finetuneEpochs));
            j.put("tensors", file);
            j.put("best_val_acc", bestValAcc);
            j.put("best_val_loss", bestValLoss);
            j.put("phase_best_loss", ps.bestLoss);
            j.put("bad_epochs", ps.badEpochs);
            j.put("phase_seconds", ps.seconds);
            j.put("seconds", secondsBefore + history.stream().mapToDouble(EpochMetrics::seconds).sum());
            j.put("skipped", skipped);
            j.put("history", history);
            j.put("options", o.describe());
            byte[] bytes = JSON.writeValueAsBytes(j);
            AtomicFiles.write(stateDir.resolve("resume.json"), out -> out.write(bytes));
            try (var files = Files.list(stateDir)) {
                for (Path p : files.toList()) {
                    String n = p.getFileName().toString();
                    if (n.startsWith("resume-") && n.endsWith(".npz") && !n.equals(file)) Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new GraftException("cannot write the resume state to " + stateDir + ": " + e.getMessage());
        }
    }

    private Resume loadResume() {
        Path json = stateDir == null ? null : stateDir.resolve("resume.json");
        if (json == null || !Files.isRegularFile(json))
            throw new GraftException("nothing to resume in " + stateDir + " (no resume.json: the run finished no epoch)");
        try {
            JsonNode j = JSON.readTree(json.toFile());
            Map<String, Object> saved = JSON.convertValue(j.path("options"), Map.class);
            // through JSON text, so that numbers compare by value whatever their Java type (a long seed reads back as an int)
            Map<String, Object> now = JSON.convertValue(JSON.readTree(JSON.writeValueAsString(o.describe())), Map.class);
            saved.remove("data_threads");
            now.remove("data_threads");
            if (!saved.equals(now))
                throw new GraftException("cannot resume " + stateDir + ": it was started with other settings " + saved + " (now " + now + ")");
            for (JsonNode m : j.path("history"))
                history.add(new EpochMetrics(m.path("phase").asText(), m.path("epoch").asInt(), m.path("epochs").asInt(), m.path("trainLoss").asDouble(),
                        m.path("trainAcc").asDouble(), m.path("valLoss").asDouble(), m.path("valAcc").asDouble(), m.path("seconds").asDouble()));
            for (JsonNode s : j.path("skipped")) skipped.add(new DataLoader.Skipped(s.path("sample").asText(), s.path("reason").asText()));
            bestValAcc = j.path("best_val_acc").asDouble();
            bestValLoss = j.path("best_val_loss").asDouble();
            secondsBefore = j.path("seconds").asDouble();
            Resume r = new Resume(j.path("phase").asText(), j.path("epoch").asInt(), j.path("phase_done").asBoolean(),
                    stateDir.resolve(j.path("tensors").asText()), j);
            if (r.phase.equals("head") && r.phaseDone) {
                // phase 1 finished: load its weights and go on with phase 2 from the start
                loadModelState(r);
                return new Resume("finetune", 0, false, r.tensors, null);
            }
            listener.message("resuming " + r.phase + " after epoch " + r.epoch + " from " + stateDir);
            return r;
        } catch (IOException e) {
            throw new GraftException("cannot read the resume state " + json + ": " + e.getMessage());
        }
    }

    private Map<String, Map<String, Tensor>> loadModelState(Resume r) {
        Map<String, Tensor> all = Npy.readNpz(r.tensors);
        Map<String, Tensor> m = new LinkedHashMap<>(), opt = new LinkedHashMap<>();
        all.forEach((k, v) -> {
            if (k.startsWith("model.")) m.put(k.substring(6), v);
            else if (k.startsWith("optim.")) opt.put(k.substring(6), v);
        });
        model.loadStateDict(m);
        return Map.of("optim", opt);
    }

    /** Restores model, optimizer, schedule and early-stopping state; returns the last completed epoch. */
    private int restore(Resume r, Optimizer opt, Scheduler sched, PhaseState ps, int batches) {
        if (r.epoch == 0) return 0;
        opt.loadStateDict(loadModelState(r).get("optim"));
        sched.setStep(r.epoch * batches);
        ps.bestLoss = r.json.path("phase_best_loss").asDouble();
        ps.badEpochs = r.json.path("bad_epochs").asInt();
        ps.seconds = r.json.path("phase_seconds").asDouble();
        ps.epochsDone = r.epoch;
        ps.done = r.phaseDone;
        List<EpochMetrics> of = history.stream().filter(m -> m.phase().equals(r.phase)).toList();
        ps.last = of.isEmpty() ? null : of.getLast();
        return r.epoch;
    }
}
