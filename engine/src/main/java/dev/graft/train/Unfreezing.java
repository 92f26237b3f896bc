package dev.graft.train;

import dev.graft.GraftException;
import dev.graft.models.ImageClassifier;
import dev.graft.nn.Module;
import dev.graft.optim.ParamGroup;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Phase 2's unfreezing: which part of the backbone trains, and at which learning rate.
 *
 * <p>The backbone is cut into <em>blocks</em> in forward order: the leaf modules with parameters,
 * grouped by their path up to the first numeric component ({@code layer3.1.conv2} belongs to block
 * {@code layer3.1}, {@code features.14.conv.0.0} to {@code features.14}); a module without such a
 * component is a block of its own ({@code conv1}, {@code bn1}, an imported graph's layers). So a
 * block is a residual block of a ResNet, a {@code features.i} stage of MobileNetV2 and a weight layer
 * of an imported graph.
 */
public final class Unfreezing {
    private Unfreezing() {}

    /** The backbone's blocks in forward order, each with its leaf modules (by dotted path). */
    public static LinkedHashMap<String, List<String>> blocks(ImageClassifier model) {
        String head = model.classifierName();
        LinkedHashMap<String, List<String>> blocks = new LinkedHashMap<>();
        for (Map.Entry<String, Module> e : model.namedModules().entrySet()) {
            String path = e.getKey();
            Module m = e.getValue();
            if (path.isEmpty() || !m.children().isEmpty() || m.namedParameters().isEmpty()) continue;
            if (path.equals(head) || path.startsWith(head + ".")) continue;
            blocks.computeIfAbsent(blockOf(path), k -> new ArrayList<>()).add(path);
        }
        return blocks;
    }

    static String blockOf(String path) {
        String[] parts = path.split("\\.");
        StringBuilder sb = new StringBuilder();
        for (String p : parts) {
            if (!sb.isEmpty()) sb.append('.');
            sb.append(p);
            if (!p.isEmpty() && p.chars().allMatch(Character::isDigit)) return sb.toString();
        }
        return path;
    }

    /**
     * Unfreezes according to {@code spec} — {@code all}, a number N (the last N blocks), or a layer
     * (module path or block name) from which on everything trains — keeping the rest frozen; the
     * classifier always trains. BatchNorm layers stay in inference mode unless {@code trainBn}.
     * Returns the optimizer groups: the classifier at {@code lr}, and each unfrozen block k of the
     * K counted back from the last at {@code lr · layerDecay^k}.
     */
    public static List<ParamGroup> apply(ImageClassifier model, String spec, boolean trainBn, double lr, double layerDecay) {
        LinkedHashMap<String, List<String>> blocks = blocks(model);
        List<String> names = new ArrayList<>(blocks.keySet());
        int from;
        if (spec.equalsIgnoreCase("all")) {
            from = 0;
        } else if (spec.chars().allMatch(Character::isDigit)) {
            int n = Integer.parseInt(spec);
            if (n <= 0 || n > names.size())
                throw new GraftException("--unfreeze " + spec + ": the backbone has " + names.size() + " blocks (" + names.getFirst() + " … " + names.getLast() + ")");
            from = names.size() - n;
        } else {
            from = -1;
            for (int i = 0; i < names.size() && from < 0; i++) {
                String b = names.get(i);
                if (b.equals(spec) || b.startsWith(spec + ".") || blocks.get(b).stream().anyMatch(p -> p.equals(spec) || p.startsWith(spec + ".")))
                    from = i;
            }
            if (from < 0)
                throw new GraftException("--unfreeze " + spec + ": no such layer; blocks are " + names.getFirst() + " … " + names.getLast()
                        + " (" + names.size() + ")");
        }
        model.freezeBackbone();
        List<ParamGroup> groups = new ArrayList<>();
        groups.add(new ParamGroup(model.classifier().trainableParameters()).withLr(lr));
        for (int i = names.size() - 1; i >= from; i--) {
            List<Tensor> params = new ArrayList<>();
            for (String path : blocks.get(names.get(i))) {
                Module m = model.module(path);
                m.unfreeze();
                params.addAll(m.parameters());
            }
            groups.add(new ParamGroup(params).withLr(lr * Math.pow(layerDecay, names.size() - 1 - i)));
        }
        model.setBatchNormInference(!trainBn);
        return groups;
    }
}
