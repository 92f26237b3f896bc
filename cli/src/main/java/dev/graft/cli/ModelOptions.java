package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.backend.Backends;
import dev.graft.models.ImageClassifier;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.zoo.ModelFile;
import dev.graft.zoo.Pretrained;
import dev.graft.zoo.registry.WeightCache;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * What the model-using commands share: resolving {@code --weights} (a path or a known id), opening the
 * file, building its pretrained classifier in eval mode, and the class labels. Every failure is a
 * one-line {@link GraftException}.
 */
final class ModelOptions {
    /** The file name looked for beside a 1001-class model's weights when no labels are given. */
    static final String IMAGENET_LABELS = "imagenet_labels.txt";

    private ModelOptions() {}

    /** A weight file: an existing path as is, or a known id (downloaded into the cache if needed). */
    static Path weights(String idOrPath) {
        return WeightCache.defaults().resolve(idOrPath);
    }

    /** Opens a weight or model file of any supported format. */
    static ModelFile open(Path file) {
        return Pretrained.open(file);
    }

    /**
     * The file's pretrained classifier in eval mode: for graph files (TFLite, ONNX) the imported graph
     * (a final softmax dropped: it outputs logits), for state dicts the architecture {@code model}
     * (guessed from the keys when null).
     */
    static ImageClassifier classifier(ModelFile file, String model) {
        ImageClassifier m = Pretrained.classifier(file, model);
        m.eval();
        return m;
    }

    /**
     * The names of {@code classes} classes: the lines of {@code labels} when given; else, for a
     * 1001-class model (ImageNet with background), {@value #IMAGENET_LABELS} beside the weights when
     * it exists; else the indices as strings.
     */
    static List<String> labels(Path labels, Path weights, int classes) {
        if (labels == null && classes == 1001 && weights != null) {
            Path beside = weights.toAbsolutePath().resolveSibling(IMAGENET_LABELS);
            if (Files.isRegularFile(beside)) labels = beside;
        }
        if (labels == null) return IntStream.range(0, classes).mapToObj(Integer::toString).toList();
        List<String> lines;
        try {
            lines = new ArrayList<>(Files.readAllLines(labels, StandardCharsets.UTF_8));
        } catch (java.nio.file.NoSuchFileException e) {
            throw new GraftException("labels " + labels + ": no such file");
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new GraftException("labels " + labels + ": cannot read: " + e.getMessage());
        }
        while (!lines.isEmpty() && lines.getLast().isBlank()) lines.removeLast();
        if (lines.size() != classes)
            throw new GraftException("labels " + labels + " has " + lines.size() + " lines but the model has " + classes + " classes");
        return lines.stream().map(String::strip).toList();
    }

    /** {@code file} when it is an existing regular file, else a one-line error naming {@code what}. */
    static Path existingFile(Path file, String what) {
        if (Files.isRegularFile(file)) return file;
        if (Files.isDirectory(file)) throw new GraftException(what + " " + file + " is a folder, not a file");
        throw new GraftException(what + " " + file + ": no such file");
    }

    /**
     * The float32 backend of {@code --device} ({@code cpu}, {@code cuda}, {@code cuda:N}), or a one-line
     * error saying why the device cannot be used.
     */
    static Backend backend(String device) {
        Device d = Device.parse(device);
        try {
            return Backends.get(d, DType.FLOAT32);
        } catch (GraftException e) {
            throw new GraftException("--device " + device + ": " + e.getMessage());
        }
    }
}
