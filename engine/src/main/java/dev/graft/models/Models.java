package dev.graft.models;

import dev.graft.GraftException;
import java.util.List;

/**
 * Factory of torchvision-compatible architectures by name. The models start with fresh (random)
 * weights; load pretrained ones with {@link ImageClassifier#loadStateDict}. Weights are drawn from
 * {@link dev.graft.nn.Init}'s seeded generator, so {@code Init.manualSeed} makes them reproducible.
 */
public final class Models {
    /** The names {@link #create} accepts, as torchvision.models spells them. */
    public static final List<String> NAMES = List.of("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2");

    private Models() {}

    /** The architecture {@code name} (one of {@link #NAMES}) with a {@code numClasses}-way classifier. */
    public static ImageClassifier create(String name, int numClasses) {
        return switch (name) {
            case "resnet18" -> resnet18(numClasses);
            case "resnet34" -> resnet34(numClasses);
            case "resnet50" -> resnet50(numClasses);
            case "resnet101" -> resnet101(numClasses);
            case "mobilenet_v2" -> mobilenetV2(numClasses);
            case null -> throw unknown(null);
            default -> throw unknown(name);
        };
    }

    private static GraftException unknown(String name) {
        return new GraftException("unknown model " + (name == null ? "null" : "'" + name + "'") + "; known models: " + String.join(", ", NAMES));
    }

    public static ResNet resnet18(int numClasses) {
        return new ResNet("resnet18", ResNet.BlockType.BASIC, new int[] {2, 2, 2, 2}, numClasses);
    }

    public static ResNet resnet34(int numClasses) {
        return new ResNet("resnet34", ResNet.BlockType.BASIC, new int[] {3, 4, 6, 3}, numClasses);
    }

    public static ResNet resnet50(int numClasses) {
        return new ResNet("resnet50", ResNet.BlockType.BOTTLENECK, new int[] {3, 4, 6, 3}, numClasses);
    }

    public static ResNet resnet101(int numClasses) {
        return new ResNet("resnet101", ResNet.BlockType.BOTTLENECK, new int[] {3, 4, 23, 3}, numClasses);
    }

    public static MobileNetV2 mobilenetV2(int numClasses) {
        return new MobileNetV2(numClasses);
    }
}
