package dev.graft.models;

import dev.graft.GraftException;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import java.util.Map;

/**
 * An image classification network split the way transfer learning needs it: a <em>backbone</em> that
 * turns an NCHW image batch into a pooled feature vector ({@link #features}, shape
 * (N, {@link #numFeatures()})) and a <em>classifier</em>, a {@link Linear} layer at the dotted path
 * {@link #classifierName()} ({@code fc} for ResNet, {@code classifier.1} for MobileNetV2) that maps
 * the features to logits. {@link #forward} runs both.
 *
 * <p>Typical fine-tuning: build the model, load pretrained weights ({@link #loadStateDict}), then
 * {@link #replaceClassifier(int)} with the new number of classes and {@link #freezeBackbone()} to
 * train only the new head; later {@link #unfreeze()} everything for a full fine-tune.
 * Parameter and buffer names are torchvision's state_dict keys (without {@code num_batches_tracked}).
 */
public abstract class ImageClassifier extends Module {
    private final String architecture;
    private final String classifierName;
    private final int numFeatures;
    private final Preprocessing preprocessing;

    protected ImageClassifier(String architecture, String classifierName, int numFeatures, Preprocessing preprocessing) {
        this.architecture = architecture;
        this.classifierName = classifierName;
        this.numFeatures = numFeatures;
        this.preprocessing = preprocessing;
    }

    /** The pooled, flattened features that enter the classifier: (N, {@link #numFeatures()}). */
    public abstract Tensor features(Tensor x);

    /** Initializes a freshly created classifier head (the architecture's own scheme). */
    protected abstract void initClassifier(Linear head);

    /** The architecture's name as {@link Models#create} knows it, e.g. {@code resnet50}. */
    public String architecture() {
        return architecture;
    }

    /** Dotted path of the classifier layer: {@code fc} or {@code classifier.1}. */
    public String classifierName() {
        return classifierName;
    }

    /** Width of the feature vector entering the classifier (512, 2048, 1280). */
    public int numFeatures() {
        return numFeatures;
    }

    /** How input images must be resized, cropped and normalized. */
    public Preprocessing preprocessing() {
        return preprocessing;
    }

    /** The classifier layer (normally a {@link Linear}). */
    public Module classifier() {
        return module(classifierName);
    }

    /** Number of classes the classifier produces. */
    public int numClasses() {
        if (classifier() instanceof Linear l) return l.outFeatures();
        throw new GraftException(architecture + ": the classifier '" + classifierName + "' is a " + classifier().getClass().getSimpleName()
                + ", not a Linear layer, so its number of classes is unknown");
    }

    /**
     * Replaces the classifier with a new, freshly initialized {@code Linear(numFeatures, numClasses)}
     * on the same backend and in the same training mode as the model, and returns it. The new head is
     * trainable even when the backbone is frozen. Create optimizers after this call.
     */
    public Linear replaceClassifier(int numClasses) {
        if (numClasses <= 0) throw new GraftException(architecture + ": number of classes must be positive, got " + numClasses);
        Linear head = new Linear(numFeatures, numClasses, true);
        initClassifier(head);
        Tensor any = namedParameters().values().stream().findFirst().orElse(null);
        if (any != null) head.to(any.backend());
        head.train(isTraining());
        setModule(classifierName, head);
        return head;
    }

    /**
     * Freezes everything except the classifier ({@link Module#freeze()} on every sub-module that is not
     * on the classifier's path): backbone parameters stop requiring gradients and its BatchNorm layers
     * keep their running statistics even in training mode. The classifier is unfrozen. Returns this.
     */
    public ImageClassifier freezeBackbone() {
        Module m = this;
        for (String part : classifierName.split("\\.")) {
            for (Map.Entry<String, Module> e : m.namedChildren().entrySet())
                if (!e.getKey().equals(part)) e.getValue().freeze();
            m = m.module(part);
        }
        m.unfreeze();
        return this;
    }

    /** Runs the sub-module {@code name} (looked up on every call, so replacements take effect). */
    protected Tensor run(String name, Tensor x) {
        return module(name).forward(x);
    }
}
