package dev.graft.zoo;

import dev.graft.graph.GraphClassifier;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.zoo.onnx.OnnxModel;
import dev.graft.zoo.tflite.TfliteModel;

import dev.graft.GraftException;
import dev.graft.nn.LoadResult;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Loading weight files into Graft models: opening a file by its content, mapping timm keys to
 * torchvision keys ({@link TimmNames}), stripping a {@code DataParallel} {@code module.} prefix, and
 * loading through {@link Module#loadStateDict(Map, boolean)} (which checks every shape before copying
 * anything) with errors that name the file.
 */
public final class Pretrained {
    private Pretrained() {}

    /**
     * Opens a weight or model file of any supported format, recognized by content where the format
     * has a signature: TFLite ({@code TFL3} at offset 4), a PyTorch zip checkpoint ({@code PK}),
     * safetensors (a JSON header after its 8-byte length) and, by the {@code .onnx} extension, ONNX.
     *
     * @throws ImportException for a missing, empty, unrecognized or malformed file
     */
    public static ModelFile open(Path file) {
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (NoSuchFileException e) {
            throw new ImportException(file, "no such file");
        } catch (IOException e) {
            throw new ImportException(file, "cannot read: " + e.getMessage(), e);
        }
        if (n == 0) throw new ImportException(file, "empty file");
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (n >= 8 && head[4] == 'T' && head[5] == 'F' && head[6] == 'L' && head[7] == '3') return TfliteModel.read(file);
        if (name.endsWith(".onnx")) return OnnxModel.read(file);
        if (name.endsWith(".tflite")) return TfliteModel.read(file);
        if (n >= 4 && head[0] == 'P' && head[1] == 'K') return PthFile.read(file);
        if ((head[0] & 0xff) == 0x80) return PthFile.read(file); // legacy pickle: PthFile explains
        if (n == 9 && head[8] == '{') return SafetensorsFile.read(file);
        if (name.endsWith(".safetensors")) return SafetensorsFile.read(file);
        if (name.endsWith(".pth") || name.endsWith(".pt") || name.endsWith(".bin")) return PthFile.read(file);
        throw new ImportException(file, "unrecognized weight file (not safetensors, a PyTorch zip checkpoint, TFLite or .onnx)");
    }

    /**
     * The pretrained classifier a file holds: for TFLite and ONNX the imported graph, split at its global
     * pooling ({@link GraphClassifier}); for a state dict the engine architecture {@code model} (one of
     * {@link Models#NAMES}; guessed from the keys when null) with the weights loaded strictly.
     *
     * @throws ImportException when the file is malformed, the architecture cannot be guessed or the weights do not fit it
     */
    public static ImageClassifier classifier(ModelFile file, String model) {
        if (file instanceof TfliteModel t) return t.classifier();
        if (file instanceof OnnxModel o) return o.classifier();
        Map<String, Tensor> state = torchvisionStateDict(file);
        String arch = model != null ? model : guessArchitecture(file.path(), state.keySet());
        if (!Models.NAMES.contains(arch))
            throw new ImportException(file.path(), "unknown model '" + arch + "' (known: " + String.join(", ", Models.NAMES) + ")");
        String headKey = arch.startsWith("resnet") ? "fc.weight" : "classifier.1.weight";
        Tensor head = state.get(headKey);
        int classes = head != null && head.dim() == 2 ? head.shape()[0] : 1000;
        ImageClassifier m = Models.create(arch, classes);
        load(m, file, true);
        return m;
    }

    /** The torchvision architecture whose state-dict keys these are. */
    static String guessArchitecture(Path file, Set<String> keys) {
        if (keys.contains("features.18.0.weight") && keys.contains("classifier.1.weight")) return "mobilenet_v2";
        if (keys.contains("layer4.0.conv1.weight")) {
            boolean bottleneck = keys.contains("layer1.0.conv3.weight");
            if (!bottleneck) return keys.contains("layer3.5.conv1.weight") ? "resnet34" : "resnet18";
            return keys.contains("layer3.22.conv1.weight") ? "resnet101" : "resnet50";
        }
        throw new ImportException(file, "cannot tell the architecture from the keys (" + keys.stream().limit(3).toList()
                + " …): pass --model (" + String.join(", ", Models.NAMES) + ")");
    }

    /** The file's float state dict with torchvision keys: timm names mapped, a {@code module.} prefix removed. */
    public static Map<String, Tensor> torchvisionStateDict(ModelFile file) {
        Map<String, Tensor> state = file.stateDict();
        if (!state.isEmpty() && state.keySet().stream().allMatch(k -> k.startsWith("module."))) {
            LinkedHashMap<String, Tensor> stripped = new LinkedHashMap<>();
            state.forEach((k, v) -> stripped.put(k.substring("module.".length()), v));
            state = stripped;
        }
        return TimmNames.toTorchvision(file.path(), state);
    }

    /** {@link #load(Module, ModelFile, boolean)} in strict mode. */
    public static LoadResult load(Module model, ModelFile file) {
        return load(model, file, true);
    }

    /** Opens {@code file} ({@link #open}) and loads it strictly into {@code model}. */
    public static LoadResult load(Module model, Path file) {
        return load(model, open(file), true);
    }

    /**
     * Loads the file's weights into {@code model} in place. Any shape mismatch fails, naming the tensor
     * and both shapes, before anything is copied. With {@code strict}, keys the model has that the file
     * lacks (missing) or the file has that the model lacks (unexpected) fail too, and the model is left
     * unchanged; without it they are returned in the {@link LoadResult} (use this to load a backbone
     * whose classifier has a different number of classes: drop the head keys first, or catch the
     * mismatch). Integer bookkeeping tensors such as {@code num_batches_tracked} are never loaded.
     *
     * @throws ImportException naming the file, with the offending keys or shapes
     */
    public static LoadResult load(Module model, ModelFile file, boolean strict) {
        Map<String, Tensor> state = torchvisionStateDict(file);
        if (strict) {
            Set<String> own = model.stateDict().keySet();
            List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>();
            for (String k : own) if (!state.containsKey(k)) missing.add(k);
            for (String k : state.keySet()) if (!own.contains(k)) unexpected.add(k);
            if (!missing.isEmpty() || !unexpected.isEmpty())
                throw new ImportException(file.path(), "does not match " + model.getClass().getSimpleName() + ": " + summary("missing", missing)
                        + ", " + summary("unexpected", unexpected) + " (load non-strictly to ignore them)");
        }
        try {
            return model.loadStateDict(state, strict);
        } catch (ImportException e) {
            throw e;
        } catch (GraftException e) {
            throw new ImportException(file.path(), e.getMessage(), e);
        }
    }

    private static String summary(String what, List<String> keys) {
        if (keys.isEmpty()) return "no " + what + " keys";
        List<String> shown = keys.size() <= 6 ? keys : keys.subList(0, 6);
        return keys.size() + " " + what + " keys " + shown + (keys.size() > shown.size() ? " and " + (keys.size() - shown.size()) + " more" : "");
    }
}
