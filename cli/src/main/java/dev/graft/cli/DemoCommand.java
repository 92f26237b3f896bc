package dev.graft.cli;

import dev.graft.autograd.Autograd;
import dev.graft.backend.cpu.Parallel;
import dev.graft.nn.AdaptiveAvgPool2d;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Flatten;
import dev.graft.nn.Init;
import dev.graft.nn.Linear;
import dev.graft.nn.MaxPool2d;
import dev.graft.nn.Module;
import dev.graft.nn.ReLU;
import dev.graft.nn.Sequential;
import dev.graft.ops.Losses;
import dev.graft.optim.CosineAnnealingLR;
import dev.graft.optim.SGD;
import dev.graft.optim.Scheduler;
import dev.graft.tensor.Tensor;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code graft demo}: trains a small CNN on {@link OrientedBars} (SGD with momentum, cosine schedule),
 * then shows the transfer-learning step: the convolutional backbone is frozen and a new head is
 * trained on a relabelled task, and the backbone's weights and BatchNorm statistics are checked to be
 * bit-for-bit unchanged. It becomes {@code graft finetune} on real images and pretrained weights in
 * the transfer-learning issue.
 */
@Command(name = "demo", sortOptions = false,
        description = {
            "Train a small CNN on a synthetic task, then a new head on its frozen backbone.",
            "",
            "The CNN (Conv2d-BatchNorm2d-ReLU-MaxPool2d blocks, then a Linear head) learns the orientation"
                + " of a bar in noisy images made in memory (8 angles, 22.5° apart), with SGD momentum and a"
                + " cosine schedule. Then the convolutional backbone is frozen, a new head is trained on a"
                + " relabelled task (the angle modulo 90°), and the backbone's weights and BatchNorm statistics"
                + " are checked to be unchanged. The transfer-learning issue turns this into 'graft finetune'"
                + " on real images and pretrained weights.",
            ""})
final class DemoCommand implements Callable<Integer> {
    /** The relabelled task for the new head: the bar's angle modulo 90° (0°, 22.5°, 45°, 67.5°). */
    private static final int[] MODULO_90 = {0, 1, 2, 3, 0, 1, 2, 3};

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs of training the whole network (default: ${DEFAULT-VALUE}).")
    int epochs = 4;

    @Option(names = "--head-epochs", paramLabel = "N", description = "Epochs of training the new head on the frozen backbone (default: ${DEFAULT-VALUE}).")
    int headEpochs = 2;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the data and the initial weights (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--batch", paramLabel = "B", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 32;

    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate, annealed by a cosine schedule (default: ${DEFAULT-VALUE}).")
    double lr = 0.05;

    @Option(names = "--threads", paramLabel = "T", description = "CPU threads (default: -Dgraft.threads or every core).")
    Integer threads;

    @Option(names = "--train-size", paramLabel = "N", description = "Training images (default: ${DEFAULT-VALUE}).")
    int trainSize = 4096;

    @Option(names = "--test-size", paramLabel = "N", description = "Held-out test images (default: ${DEFAULT-VALUE}).")
    int testSize = 1024;

    @Option(names = "--image-size", paramLabel = "PX", description = "Image height and width (default: ${DEFAULT-VALUE}).")
    int imageSize = 16;

    private PrintWriter out;

    @Override
    public Integer call() {
        validate();
        out = spec.commandLine().getOut();
        if (threads != null) Parallel.setThreads(threads);
        long start = System.nanoTime();

        OrientedBars train = OrientedBars.generate(trainSize, imageSize, seed);
        OrientedBars test = OrientedBars.generate(testSize, imageSize, seed + 1_000_003);
        Init.manualSeed(seed);
        Sequential features = new Sequential(
                new Conv2d(3, 16, 3, 1, 1, false), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
                new Conv2d(16, 32, 3, 1, 1, false), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2),
                new Conv2d(32, 64, 3, 1, 1, false), new BatchNorm2d(64), new ReLU(),
                new AdaptiveAvgPool2d(1), new Flatten());
        Sequential model = new Sequential()
                .add("features", features)
                .add("classifier", new Linear(64, OrientedBars.CLASSES));

        printf("graft demo: bar orientation (%d classes), %d train / %d test images of 3x%dx%d, seed %d, %d thread%s%n",
                OrientedBars.CLASSES, trainSize, testSize, imageSize, imageSize, seed, Parallel.threads(), Parallel.threads() == 1 ? "" : "s");
        printf("model: 3 x (Conv2d-BatchNorm2d-ReLU), MaxPool2d, AdaptiveAvgPool2d, Linear; %,d parameters%n", model.numParameters());
        printf("phase 1: train the whole network, SGD momentum 0.9, lr %s with cosine annealing, batch %d%n", lr, batch);
        double accuracy = train(model, train, test, null, epochs, new SplittableRandom(seed));

        // Phase 2 of transfer learning: keep the learned features, learn a new task on top of them.
        Map<String, float[]> before = snapshot(features);
        features.freeze();
        model.setModule("classifier", new Linear(64, 4));
        printf("phase 2: freeze the backbone (%,d parameters, BatchNorm in inference mode), new head for "
                + "'angle modulo 90°' (%,d trainable parameters)%n", features.numParameters(), model.numTrainableParameters());
        double headAccuracy = headEpochs > 0
                ? train(model, train, test, MODULO_90, headEpochs, new SplittableRandom(seed + 1))
                : Double.NaN;
        int changed = changedTensors(before, snapshot(features));
        if (changed != 0)
            throw new IllegalStateException(changed + " of " + before.size() + " frozen backbone tensors changed during phase 2");
        printf("backbone unchanged: all %d tensors (weights and BatchNorm running statistics) are bit-identical%n", before.size());

        printf("done in %.1f s: orientation test accuracy %.3f, new-head test accuracy %.3f%n",
                (System.nanoTime() - start) / 1e9, accuracy, headAccuracy);
        return 0;
    }

    private void validate() {
        positive("--epochs", epochs, 1);
        positive("--head-epochs", headEpochs, 0);
        positive("--batch", batch, 1);
        positive("--train-size", trainSize, 1);
        positive("--test-size", testSize, 1);
        positive("--image-size", imageSize, 8);
        if (threads != null) positive("--threads", threads, 1);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new ParameterException(spec.commandLine(), "--lr must be a positive number, got " + lr);
    }

    private void positive(String option, int value, int min) {
        if (value < min) throw new ParameterException(spec.commandLine(), option + " must be at least " + min + ", got " + value);
    }

    /** Trains the model's trainable parameters for some epochs and returns the final test accuracy. */
    private double train(Module model, OrientedBars train, OrientedBars test, int[] relabel, int epochs, SplittableRandom rng) {
        int stepsPerEpoch = (train.count + batch - 1) / batch;
        SGD sgd = new SGD(model.trainableParameters(), lr, 0.9, 5e-4);
        Scheduler schedule = new Scheduler(sgd, new CosineAnnealingLR(epochs * stepsPerEpoch));
        int[] order = new int[train.count];
        Arrays.setAll(order, i -> i);
        double accuracy = 0;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            long t0 = System.nanoTime();
            shuffle(order, rng);
            model.train();
            double lossSum = 0;
            int correct = 0;
            for (int from = 0; from < train.count; from += batch) {
                int to = Math.min(train.count, from + batch);
                int[] labels = train.labels(order, from, to, relabel);
                Tensor logits = model.forward(train.images(order, from, to));
                Tensor loss = Losses.crossEntropy(logits, labels, 0.0);
                sgd.zeroGrad();
                loss.backward();
                sgd.step();
                schedule.step();
                lossSum += loss.item() * (to - from);
                correct += countCorrect(logits, labels);
            }
            accuracy = evaluate(model, test, relabel);
            printf("  epoch %d/%d  loss %.4f  train acc %.3f  test acc %.3f  (%.1f s)%n", epoch, epochs,
                    lossSum / train.count, (double) correct / train.count, accuracy, (System.nanoTime() - t0) / 1e9);
        }
        return accuracy;
    }

    private double evaluate(Module model, OrientedBars data, int[] relabel) {
        model.eval();
        int[] order = new int[data.count];
        Arrays.setAll(order, i -> i);
        int correct = 0;
        try (var _ = Autograd.noGrad()) {
            for (int from = 0; from < data.count; from += 256) {
                int to = Math.min(data.count, from + 256);
                correct += countCorrect(model.forward(data.images(order, from, to)), data.labels(order, from, to, relabel));
            }
        }
        model.train();
        return (double) correct / data.count;
    }

    private static int countCorrect(Tensor logits, int[] labels) {
        float[] v = logits.toFloatArray();
        int classes = logits.size(1), correct = 0;
        for (int i = 0; i < labels.length; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (v[i * classes + c] > v[i * classes + best]) best = c;
            if (best == labels[i]) correct++;
        }
        return correct;
    }

    private static void shuffle(int[] a, SplittableRandom rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1), t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    /** Copies of every parameter and buffer of a module, by name. */
    private static Map<String, float[]> snapshot(Module m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.stateDict().forEach((name, t) -> out.put(name, t.toFloatArray()));
        return out;
    }

    private static int changedTensors(Map<String, float[]> a, Map<String, float[]> b) {
        int changed = 0;
        for (var e : a.entrySet()) if (!Arrays.equals(e.getValue(), b.get(e.getKey()))) changed++;
        return changed;
    }

    private void printf(String format, Object... args) {
        out.printf(Locale.ROOT, format, args);
        out.flush();
    }
}
