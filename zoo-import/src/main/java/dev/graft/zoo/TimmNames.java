package dev.graft.zoo;

import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps state-dict keys of <a href="https://github.com/huggingface/pytorch-image-models">timm</a>
 * models to the torchvision keys that {@code dev.graft.models} uses.
 *
 * <ul>
 *   <li>timm's {@code resnet18/34/50/101} use torchvision's names ({@code conv1}, {@code bn1},
 *       {@code layerN.M.convK/bnK}, {@code layerN.M.downsample.0/1}, {@code fc}): no mapping.</li>
 *   <li>timm's {@code mobilenetv2_100} (an {@code EfficientNet} built from
 *       {@code ds_r1_k3_s1_c16, ir_r2…c24, ir_r3…c32, ir_r4…c64, ir_r3…c96, ir_r3…c160, ir_r1…c320})
 *       maps as {@code conv_stem/bn1 → features.0.0/1}; the depthwise-separable
 *       {@code blocks.0.0.conv_dw/bn1/conv_pw/bn2 → features.1.conv.0.0/conv.0.1/conv.1/conv.2};
 *       inverted residuals {@code blocks.i.j.conv_pw/bn1/conv_dw/bn2/conv_pwl/bn3 →
 *       features.N.conv.0.0/conv.0.1/conv.1.0/conv.1.1/conv.2/conv.3} with {@code N} counting blocks
 *       from 1; {@code conv_head/bn2 → features.18.0/1}; {@code classifier → classifier.1}.</li>
 * </ul>
 */
public final class TimmNames {
    private TimmNames() {}

    /** Blocks per stage of timm's {@code mobilenetv2_100}. */
    private static final int[] MOBILENETV2_STAGES = {1, 2, 3, 4, 3, 3, 1};

    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d+)\\.(\\d+)\\.(\\w+)\\.(\\w+)");
    private static final Pattern TOP = Pattern.compile("(conv_stem|bn1|conv_head|bn2|classifier)\\.(\\w+)");

    /** True when the keys look like a timm EfficientNet-family model ({@code conv_stem.weight}, {@code blocks.*}). */
    public static boolean isTimmEfficientNetLayout(Collection<String> keys) {
        return keys.contains("conv_stem.weight") || keys.stream().anyMatch(k -> k.startsWith("blocks."));
    }

    /**
     * The torchvision key for a timm {@code mobilenetv2_100} key, or null if the key has no
     * counterpart (another timm architecture, such as an EfficientNet's squeeze-excitation).
     */
    public static String mobileNetV2Key(String timmKey) {
        Matcher top = TOP.matcher(timmKey);
        if (top.matches()) {
            String param = top.group(2);
            return switch (top.group(1)) {
                case "conv_stem" -> "features.0.0." + param;
                case "bn1" -> "features.0.1." + param;
                case "conv_head" -> "features.18.0." + param;
                case "bn2" -> "features.18.1." + param;
                default -> "classifier.1." + param;
            };
        }
        Matcher b = BLOCK.matcher(timmKey);
        if (!b.matches()) return null;
        int stage, block;
        try {
            stage = Integer.parseInt(b.group(1));
            block = Integer.parseInt(b.group(2));
        } catch (NumberFormatException e) {
            return null;
        }
        if (stage >= MOBILENETV2_STAGES.length || block >= MOBILENETV2_STAGES[stage]) return null;
        int feature = 1 + block;
        for (int s = 0; s < stage; s++) feature += MOBILENETV2_STAGES[s];
        String layer = b.group(3), param = b.group(4);
        String sub;
        if (stage == 0) {
            sub = switch (layer) {
                case "conv_dw" -> "conv.0.0";
                case "bn1" -> "conv.0.1";
                case "conv_pw" -> "conv.1";
                case "bn2" -> "conv.2";
                default -> null;
            };
        } else {
            sub = switch (layer) {
                case "conv_pw" -> "conv.0.0";
                case "bn1" -> "conv.0.1";
                case "conv_dw" -> "conv.1.0";
                case "bn2" -> "conv.1.1";
                case "conv_pwl" -> "conv.2";
                case "bn3" -> "conv.3";
                default -> null;
            };
        }
        return sub == null ? null : "features." + feature + "." + sub + "." + param;
    }

    /**
     * Returns {@code state} with torchvision keys: timm {@code mobilenetv2_100} keys are renamed
     * (order kept); torchvision and timm ResNet keys are returned unchanged.
     *
     * @param file the file the state dict came from, for error messages
     * @throws ImportException when the keys look like timm's EfficientNet family but some have no
     *                         {@code mobilenetv2_100} counterpart (listing a few of them)
     */
    public static Map<String, Tensor> toTorchvision(Path file, Map<String, Tensor> state) {
        if (!isTimmEfficientNetLayout(state.keySet())) return state;
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        List<String> unexpected = new ArrayList<>();
        int unmapped = 0;
        for (var e : state.entrySet()) {
            String k = mobileNetV2Key(e.getKey());
            if (k == null) {
                if (unexpected.size() < 5) unexpected.add(e.getKey());
                unmapped++;
                continue;
            }
            out.put(k, e.getValue());
        }
        if (unmapped > 0)
            throw new ImportException(file, "unknown timm layout (not mobilenetv2_100): " + unmapped + " keys have no torchvision counterpart, e.g. "
                    + unexpected);
        return out;
    }
}
