package dev.graft.zoo;

import dev.graft.io.AtomicFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Models;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A fine-tuned classifier on disk: a folder with {@code model.safetensors} (every parameter and
 * buffer, float32, the model's own state-dict names) and {@code model.json} (the architecture, or
 * the imported backbone graph, the class names and the preprocessing). Both files are written to a
 * temporary file and renamed, weights first, so a reader never sees half a checkpoint.
 */
public final class Checkpoint {
    /** Name of the weights file in a checkpoint folder. */
    public static final String WEIGHTS = "model.safetensors";
    /** Name of the description file in a checkpoint folder. */
    public static final String DESCRIPTION = "model.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Checkpoint() {}

    /** A loaded checkpoint: the model (eval mode) and its class names, index by index. */
    public record Loaded(ImageClassifier model, List<String> classes) {}

    /** Writes {@code model} with its {@code classes} into {@code dir} (created if needed). */
    public static void save(Path dir, ImageClassifier model, List<String> classes) {
        if (classes.size() != model.numClasses())
            throw new IllegalArgumentException(classes.size() + " class names for a model with " + model.numClasses() + " outputs");
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("format", "graft-checkpoint");
        d.put("version", 1);
        d.put("architecture", model.architecture());
        if (model instanceof GraphClassifier g) d.put("graph", g.backbone().spec());
        d.put("num_features", model.numFeatures());
        d.put("classes", classes);
        Preprocessing p = model.preprocessing();
        Map<String, Object> pp = new LinkedHashMap<>();
        pp.put("input_size", p.inputSize());
        pp.put("resize_size", p.resizeSize());
        pp.put("crop_size", p.cropSize());
        pp.put("mean", p.mean());
        pp.put("std", p.std());
        pp.put("interpolation", p.interpolation());
        pp.put("resize", p.resize().name().toLowerCase());
        d.put("preprocessing", pp);
        Map<String, Tensor> state = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> {
            if (v.dtype() == DType.FLOAT32) state.put(k, v);
            else if (v.dtype() == DType.FLOAT64) state.put(k, Tensor.of(v.toFloatArray(), v.shape()));
        });
        try {
            Files.createDirectories(dir);
            Safetensors.write(dir.resolve(WEIGHTS), state, Map.of("format", "pt", "graft.architecture", model.architecture()));
            byte[] json = JSON.writeValueAsBytes(d);
            AtomicFiles.write(dir.resolve(DESCRIPTION), out -> out.write(json));
        } catch (IOException e) {
            throw new ImportException(dir, "cannot write the checkpoint: " + e.getMessage(), e);
        }
    }

    /** Reads a checkpoint folder written by {@link #save}. */
    public static Loaded load(Path dir) {
        Path json = dir.resolve(DESCRIPTION);
        if (!Files.isRegularFile(json))
            throw new ImportException(dir, "not a Graft checkpoint (no " + DESCRIPTION + "; pass the --out folder of 'graft finetune')");
        JsonNode d;
        try {
            d = JSON.readTree(json.toFile());
        } catch (IOException e) {
            throw new ImportException(json, "unreadable checkpoint description: " + e.getMessage(), e);
        }
        if (!"graft-checkpoint".equals(d.path("format").asText()))
            throw new ImportException(json, "not a Graft checkpoint description (format is '" + d.path("format").asText() + "')");
        List<String> classes = new ArrayList<>();
        for (JsonNode c : d.path("classes")) classes.add(c.asText());
        if (classes.isEmpty()) throw new ImportException(json, "the checkpoint names no classes");
        JsonNode p = d.path("preprocessing");
        Preprocessing pre;
        try {
            pre = new Preprocessing(p.path("input_size").asInt(), p.path("resize_size").asInt(), p.path("crop_size").asInt(),
                    doubles(p.path("mean")), doubles(p.path("std")), p.path("interpolation").asText("bilinear"),
                    Preprocessing.Resize.valueOf(p.path("resize").asText("shorter_side").toUpperCase()));
        } catch (RuntimeException e) {
            throw new ImportException(json, "bad preprocessing in the checkpoint: " + e.getMessage(), e);
        }
        String arch = d.path("architecture").asText();
        ImageClassifier model;
        try {
            if (d.has("graph")) {
                model = GraphClassifier.split(arch, GraphModule.fromSpec(d.get("graph")), pre);
                model.replaceClassifier(classes.size());
            } else {
                if (!Models.NAMES.contains(arch)) throw new ImportException(json, "unknown architecture '" + arch + "'");
                model = Models.create(arch, classes.size());
            }
        } catch (ImportException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ImportException(json, "cannot rebuild the model: " + e.getMessage(), e);
        }
        Pretrained.load(model, Safetensors.read(dir.resolve(WEIGHTS)), true);
        model.eval();
        return new Loaded(model, List.copyOf(classes));
    }

    private static double[] doubles(JsonNode a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asDouble();
        return out;
    }
}
