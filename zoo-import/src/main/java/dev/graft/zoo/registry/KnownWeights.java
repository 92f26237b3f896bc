package dev.graft.zoo.registry;

import dev.graft.GraftException;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A pretrained weight file Graft knows by name: where to download it, how to check it, and what it
 * holds. Ids are {@code source:name}: {@code torchvision:resnet18}, {@code coral:mobilenet_v2_1.0_224_quant}.
 *
 * <p>{@code sha256} is the file's SHA-256 in lower-case hex: all 64 digits where they are known, or,
 * for torchvision files whose full digest was not at hand, the leading digits that torchvision
 * embeds in the file name (its own {@code check_hash} verifies only that prefix too).
 * {@link #fullHash()} says which; a download is checked against whatever is recorded.
 *
 * @param id           {@code source:name}
 * @param url          https URL of the file
 * @param sha256       full SHA-256 (64 hex digits) or a prefix of at least 8
 * @param size         file size in bytes, or −1 when not recorded
 * @param architecture the Graft architecture the weights fit ({@code dev.graft.models.Models} names
 *                     for torchvision; the TFLite graph's own name otherwise)
 * @param format       file format
 * @param classes      number of outputs of the classifier (1000 ImageNet, 1001 with TFLite's
 *                     "background"), or 0 for a feature extractor or head
 * @param description  one line for listings
 */
public record KnownWeights(String id, String url, String sha256, long size, String architecture, Format format, int classes,
                           String description) {
    /** File formats of known weights. */
    public enum Format {
        /** A PyTorch {@code torch.save} state dict ({@code .pth}, zip or legacy pickle). */
        PYTORCH,
        /** A TensorFlow Lite flatbuffer ({@code .tflite}). */
        TFLITE
    }

    private static final Pattern ID = Pattern.compile("[a-z0-9_]+:[A-Za-z0-9_.\\-]+");
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{8,64}");

    public KnownWeights {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(url, "url");
        Objects.requireNonNull(sha256, "sha256");
        Objects.requireNonNull(architecture, "architecture");
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(description, "description");
        if (!ID.matcher(id).matches()) throw new GraftException("weights id '" + id + "' is not of the form source:name");
        if (!HEX.matcher(sha256).matches())
            throw new GraftException("weights " + id + ": SHA-256 '" + sha256 + "' is not 8 to 64 lower-case hex digits");
        URI u = URI.create(url);
        if (u.getScheme() == null || !(u.getScheme().equals("https") || u.getScheme().equals("http")) || u.getPath() == null
                || u.getPath().endsWith("/"))
            throw new GraftException("weights " + id + ": URL " + url + " is not an http(s) URL of a file");
    }

    /** Whether {@link #sha256} is the whole digest (else a prefix). */
    public boolean fullHash() {
        return sha256.length() == 64;
    }

    /** The source part of the id ({@code torchvision}, {@code coral}, ...). */
    public String source() {
        return id.substring(0, id.indexOf(':'));
    }

    /** The name part of the id. */
    public String name() {
        return id.substring(id.indexOf(':') + 1);
    }

    /** The last segment of the URL's path, used as the cached file's name. */
    public String fileName() {
        String path = URI.create(url).getPath();
        return path.substring(path.lastIndexOf('/') + 1);
    }

    // ---------------------------------------------------------------------------------------------

    private static final String TORCHVISION = "https://download.pytorch.org/models/";
    /** google-coral/test_data at the commit the shared zoo data was copied from. */
    private static final String CORAL = "https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41/";
    /** tensorflow/tflite-support test data at the commit the shared zoo data was copied from. */
    private static final String TFLITE_SUPPORT = "https://github.com/tensorflow/tflite-support/raw/dd3362ea685bb7ab1f7268c81ec567d3b720ae57/"
            + "tensorflow_lite_support/cc/test/testdata/task/vision/";

    /** torchvision weights: the hash recorded is the prefix embedded in the file name unless {@code sha256} is given. */
    private static KnownWeights torchvision(String name, String file, String sha256, long size, String arch, String what) {
        String prefix = file.substring(file.lastIndexOf('-') + 1, file.lastIndexOf('.'));
        String hash = sha256 != null ? sha256 : prefix;
        if (!hash.startsWith(prefix)) throw new IllegalStateException(file + ": digest does not start with the file name's " + prefix);
        return new KnownWeights("torchvision:" + name, TORCHVISION + file, hash, size, arch, Format.PYTORCH, 1000,
                "torchvision " + what + ", ImageNet-1k");
    }

    private static KnownWeights tflite(String source, String base, String name, String path, String sha256, long size, String arch,
                                       int classes, String what) {
        return new KnownWeights(source + ":" + name, base + path, sha256, size, arch, Format.TFLITE, classes, what);
    }

    private static final List<KnownWeights> ALL = List.of(
            // The full digest of resnet18-f37072fd.pth is the one widely pinned for IMAGENET1K_V1 (size 46,830,571 bytes).
            torchvision("resnet18", "resnet18-f37072fd.pth", "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
                    46_830_571L, "resnet18", "ResNet-18 IMAGENET1K_V1 (acc@1 69.758)"),
            torchvision("resnet34", "resnet34-b627a593.pth", null, -1, "resnet34", "ResNet-34 IMAGENET1K_V1 (acc@1 73.314)"),
            torchvision("resnet50", "resnet50-0676ba61.pth", null, -1, "resnet50", "ResNet-50 IMAGENET1K_V1 (acc@1 76.130)"),
            torchvision("resnet101", "resnet101-63fe2227.pth", null, -1, "resnet101", "ResNet-101 IMAGENET1K_V1 (acc@1 77.374)"),
            torchvision("mobilenet_v2", "mobilenet_v2-b0353104.pth", null, -1, "mobilenet_v2", "MobileNetV2 IMAGENET1K_V1 (acc@1 71.878)"),
            tflite("coral", CORAL, "mobilenet_v2_1.0_224_quant", "mobilenet_v2_1.0_224_quant.tflite",
                    "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776", 3_610_798L, "mobilenet_v2", 1001,
                    "Coral MobileNetV2 1.0 224, uint8 quantization-aware trained"),
            tflite("coral", CORAL, "tf2_mobilenet_v2_1.0_224_ptq", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
                    "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c", 4_070_174L, "mobilenet_v2", 1001,
                    "Coral Keras MobileNetV2 1.0 224, int8 post-training quantized"),
            tflite("coral", CORAL, "mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.25_128_quant.tflite",
                    "cb273c23ee76374b05b9583177e28aa19744858a7679c56a250e83d0333da785", 525_598L, "mobilenet_v1", 1001,
                    "Coral MobileNetV1 0.25 128, uint8"),
            tflite("coral", CORAL, "mobilenet_v1_0.5_160_quant", "mobilenet_v1_0.5_160_quant.tflite",
                    "3cc6d2ca460abd2e0f699a6d0d2550c6b61c6e3b0e27a3616e384ea74cb86f43", 1_392_846L, "mobilenet_v1", 1001,
                    "Coral MobileNetV1 0.5 160, uint8"),
            tflite("coral", CORAL, "mobilenet_v1_1.0_224_quant_embedding_extractor", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
                    "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319", 3_251_736L, "mobilenet_v1", 0,
                    "Coral MobileNetV1 1.0 224, uint8, classifier removed (1024 features)"),
            tflite("coral", CORAL, "mobilenet_quant_v1_224_head_layers", "tools/mobilenet_quant_v1_224_head_layers.tflite",
                    "65a88984b258c6f3c99d7573acac8cf85bd747293d83d51fafc1c2fb6d632286", 1_030_768L, "mobilenet_v1_head", 1001,
                    "Coral MobileNetV1 1.0 224 classifier head for the embedding extractor, uint8"),
            tflite("tflite", TFLITE_SUPPORT, "mobilenet_v1_0.25_224", "mobilenet_v1_0.25_224_1_default_1.tflite",
                    "446ec673881cd46371a8726075b714194ada39d144762260cb76d15318597df7", 1_882_904L, "mobilenet_v1", 1001,
                    "TF-Hub MobileNetV1 0.25 224, float32, input scaled to [-1, 1]"),
            tflite("tflite", TFLITE_SUPPORT, "mobilenet_v1_0.25_224_quant", "mobilenet_v1_0.25_224_quant.tflite",
                    "e480eb15572f86d3d5f1be6e83e35b3c7d509ab2bcec353707d1f614e14edca2", 508_786L, "mobilenet_v1", 1001,
                    "TF-Hub MobileNetV1 0.25 224, uint8, with label metadata"));

    /** Every known weight file, in a stable order. */
    public static List<KnownWeights> all() {
        return ALL;
    }

    /** The entry with this id (case-insensitive), if any. */
    public static Optional<KnownWeights> find(String id) {
        if (id == null) return Optional.empty();
        String want = id.strip().toLowerCase(Locale.ROOT);
        return ALL.stream().filter(w -> w.id.toLowerCase(Locale.ROOT).equals(want)).findFirst();
    }

    /** The entry with this id; fails with one line listing the known ids otherwise. */
    public static KnownWeights get(String id) {
        return find(id).orElseThrow(() -> new GraftException("unknown weights '" + id + "'; known: " + String.join(", ", ids())));
    }

    /** The known ids, in order. */
    public static List<String> ids() {
        return ALL.stream().map(KnownWeights::id).toList();
    }

    /** Whether a string looks like a registry id ({@code source:name}) rather than a file path. */
    public static boolean looksLikeId(String s) {
        return s != null && ID.matcher(s.strip()).matches() && !s.contains("/") && !s.contains("\\");
    }
}
