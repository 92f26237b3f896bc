package dev.graft.train;

import dev.graft.GraftException;
import dev.graft.tensor.Device;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Settings of a two-phase transfer-learning run ({@link FineTuner}). The defaults follow the Keras and
 * PyTorch transfer-learning guides, adjusted so that a MobileNetV2 or ResNet-18 run on a few hundred
 * images finishes in minutes on two cores:
 * <ul>
 * <li>phase 1 ("head"): backbone frozen (BatchNorm in inference mode), new Linear head trained with
 *     AdamW (lr 1e-3, weight decay 1e-4) for 20 epochs on features computed once (no augmentation);
 * <li>phase 2 ("finetune"): everything unfrozen, BatchNorm still in inference mode, AdamW with a
 *     10× lower rate (1e-4) and cosine decay for 3 epochs, with random resized crops and flips;
 * <li>batch 32, early stopping after 5 epochs without a lower validation loss, seed 0.
 * </ul>
 */
public final class FineTuneOptions {
    int headEpochs = 20;
    int finetuneEpochs = 3;
    int batchSize = 32;
    double lrHead = 1e-3;
    double lrFinetune = 1e-4;
    double weightDecay = 1e-4;
    double labelSmoothing = 0.0;
    String unfreeze = "all";
    boolean trainBn = false;
    boolean augmentHead = false;
    boolean augmentFinetune = true;
    double layerDecay = 1.0;
    int patience = 5;
    long seed = 0;
    int dataThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    Device device = Device.CPU;

    public FineTuneOptions headEpochs(int n) { headEpochs = nonNegative("head epochs", n); return this; }
    public FineTuneOptions finetuneEpochs(int n) { finetuneEpochs = nonNegative("fine-tune epochs", n); return this; }
    public FineTuneOptions batchSize(int n) { batchSize = positive("batch size", n); return this; }
    public FineTuneOptions lrHead(double lr) { lrHead = positive("head learning rate", lr); return this; }
    public FineTuneOptions lrFinetune(double lr) { lrFinetune = positive("fine-tune learning rate", lr); return this; }
    public FineTuneOptions weightDecay(double wd) { weightDecay = nonNegative("weight decay", wd); return this; }
    public FineTuneOptions labelSmoothing(double s) {
        if (!(s >= 0 && s < 1)) throw new GraftException("label smoothing must be in [0, 1), got " + s);
        labelSmoothing = s;
        return this;
    }
    /** {@code all}, a number N of last blocks, or a layer name from which on everything trains. */
    public FineTuneOptions unfreeze(String spec) {
        if (spec == null || spec.isBlank()) throw new GraftException("--unfreeze needs all, a number of blocks or a layer name");
        unfreeze = spec.strip();
        return this;
    }
    public FineTuneOptions trainBn(boolean b) { trainBn = b; return this; }
    public FineTuneOptions augmentHead(boolean b) { augmentHead = b; return this; }
    public FineTuneOptions augmentFinetune(boolean b) { augmentFinetune = b; return this; }
    /** Per-block learning-rate factor in phase 2: the last block trains at lrFinetune, the one before at ×decay, … (1 = off). */
    public FineTuneOptions layerDecay(double d) {
        if (!(d > 0 && d <= 1)) throw new GraftException("layer decay must be in (0, 1], got " + d);
        layerDecay = d;
        return this;
    }
    /** Epochs without a lower validation loss before a phase stops early (0 = never). */
    public FineTuneOptions patience(int n) { patience = nonNegative("patience", n); return this; }
    public FineTuneOptions seed(long s) { seed = s; return this; }
    public FineTuneOptions dataThreads(int n) { dataThreads = positive("data threads", n); return this; }

    public int headEpochs() { return headEpochs; }
    public int finetuneEpochs() { return finetuneEpochs; }
    public int batchSize() { return batchSize; }
    public double lrHead() { return lrHead; }
    public double lrFinetune() { return lrFinetune; }
    public double weightDecay() { return weightDecay; }
    public double labelSmoothing() { return labelSmoothing; }
    public String unfreeze() { return unfreeze; }
    public boolean trainBn() { return trainBn; }
    public boolean augmentHead() { return augmentHead; }
    public boolean augmentFinetune() { return augmentFinetune; }
    public double layerDecay() { return layerDecay; }
    public int patience() { return patience; }
    /**
     * Where the model trains: {@code cpu} (default) or {@code cuda:N}. Not part of {@link #describe()}: a
     * run may be resumed on another device with the same results up to floating-point rounding.
     */
    public FineTuneOptions device(Device d) { device = java.util.Objects.requireNonNull(d, "device"); return this; }
    public Device device() { return device; }
    public long seed() { return seed; }
    public int dataThreads() { return dataThreads; }

    /** Every setting by name, in a fixed order (printed at the start of a run and saved with checkpoints). */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("head_epochs", headEpochs);
        m.put("finetune_epochs", finetuneEpochs);
        m.put("batch", batchSize);
        m.put("lr_head", lrHead);
        m.put("lr_finetune", lrFinetune);
        m.put("weight_decay", weightDecay);
        m.put("label_smoothing", labelSmoothing);
        m.put("unfreeze", unfreeze);
        m.put("train_bn", trainBn);
        m.put("augment_head", augmentHead);
        m.put("augment_finetune", augmentFinetune);
        m.put("layer_decay", layerDecay);
        m.put("patience", patience);
        m.put("seed", seed);
        m.put("data_threads", dataThreads);
        return m;
    }

    private static int positive(String what, int n) {
        if (n <= 0) throw new GraftException(what + " must be positive, got " + n);
        return n;
    }

    private static int nonNegative(String what, int n) {
        if (n < 0) throw new GraftException(what + " must not be negative, got " + n);
        return n;
    }

    private static double positive(String what, double v) {
        if (!(v > 0) || Double.isInfinite(v)) throw new GraftException(what + " must be positive, got " + v);
        return v;
    }

    private static double nonNegative(String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) throw new GraftException(what + " must not be negative, got " + v);
        return v;
    }
}
