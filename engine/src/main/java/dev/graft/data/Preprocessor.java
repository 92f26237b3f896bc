package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.data.Images.Interpolation;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.random.RandomGenerator;

/**
 * Turns image files into a model's input, following a {@link Preprocessing}: a
 * {@link DataLoader.Decoder} for {@link ImageFolder} samples, and {@link #file} for one image.
 *
 * <p>The <b>evaluation</b> transform is torchvision's {@code Resize(resizeSize)} +
 * {@code CenterCrop(cropSize)} for {@link Preprocessing.Resize#SHORTER_SIDE}, or both sides to
 * {@code resizeSize} then the center crop for {@link Preprocessing.Resize#STRETCH}; a crop of a
 * size other than {@code inputSize} is then resized to {@code inputSize}. The <b>training</b>
 * transform is torchvision's {@code RandomResizedCrop(inputSize, scale=(0.08, 1), ratio=(3/4, 4/3))}
 * then {@code RandomHorizontalFlip(0.5)}, drawn from the generator the {@link DataLoader} seeds for
 * each sample, so the same seed, epoch and position give the same pixels. Both end with
 * {@code ToTensor} and {@code Normalize(mean, std)}, giving {@code [3, inputSize, inputSize]} floats.
 *
 * <p>Immutable and thread-safe: one instance serves every DataLoader worker.
 */
public final class Preprocessor implements DataLoader.Decoder<ImageFolder.Sample> {
    /** RandomResizedCrop's default area range (fractions of the image). */
    public static final double MIN_SCALE = 0.08, MAX_SCALE = 1.0;
    /** RandomResizedCrop's default aspect-ratio range (width / height). */
    public static final double MIN_RATIO = 3.0 / 4.0, MAX_RATIO = 4.0 / 3.0;

    private final Preprocessing config;
    private final boolean training;
    private final Interpolation interpolation;

    private Preprocessor(Preprocessing config, boolean training) {
        this.config = config;
        this.training = training;
        this.interpolation = Interpolation.of(config.interpolation());
    }

    /** The deterministic evaluation transform (resize, center crop, normalize). */
    public static Preprocessor eval(Preprocessing config) {
        return new Preprocessor(config, false);
    }

    /** The random training transform (random resized crop, horizontal flip, normalize). */
    public static Preprocessor train(Preprocessing config) {
        return new Preprocessor(config, true);
    }

    public Preprocessing config() {
        return config;
    }

    public boolean training() {
        return training;
    }

    /** The shape of one decoded sample, {@code [3, inputSize, inputSize]} (for the DataLoader). */
    public int[] sampleShape() {
        return new int[] {3, config.inputSize(), config.inputSize()};
    }

    /** Decodes the sample's file and applies this transform; {@code rng} is used only when training. */
    @Override
    public float[] decode(ImageFolder.Sample sample, RandomGenerator rng) {
        return apply(Images.decode(sample.path()), rng);
    }

    /** Applies this transform to a decoded image: normalized CHW floats of {@link #sampleShape()}. */
    public float[] apply(RgbImage image, RandomGenerator rng) {
        RgbImage x = training ? trainPixels(image, rng) : evalPixels(image);
        return Images.toChw(x, config.mean(), config.std());
    }

    /**
     * One image file through the evaluation transform, as a {@code [1, 3, inputSize, inputSize]}
     * tensor (for classifying or predicting single files). Fails with one line naming the file if it
     * cannot be decoded.
     */
    public Tensor file(Path image) {
        float[] x = Images.toChw(evalPixels(Images.decode(image)), config.mean(), config.std());
        return Tensor.of(x, 1, 3, config.inputSize(), config.inputSize());
    }

    /** The evaluation transform's pixels, before normalization ({@code inputSize} square). */
    public RgbImage evalPixels(RgbImage image) {
        int side = config.resizeSize();
        RgbImage r = switch (config.resize()) {
            case SHORTER_SIDE -> {
                int[] wh = Images.shorterSideSize(image.width(), image.height(), side);
                yield Images.resize(image, wh[0], wh[1], interpolation);
            }
            case STRETCH -> Images.resize(image, side, side, interpolation);
        };
        RgbImage c = Images.centerCrop(r, config.cropSize(), config.cropSize());
        return Images.resize(c, config.inputSize(), config.inputSize(), interpolation);
    }

    /** The training transform's pixels, before normalization ({@code inputSize} square). */
    public RgbImage trainPixels(RgbImage image, RandomGenerator rng) {
        int[] box = randomResizedCrop(image.width(), image.height(), rng);
        RgbImage c = Images.crop(image, box[0], box[1], box[2], box[3]);
        RgbImage r = Images.resize(c, config.inputSize(), config.inputSize(), interpolation);
        return rng.nextDouble() < 0.5 ? Images.flipHorizontal(r) : r;
    }

    /**
     * torchvision's {@code RandomResizedCrop.get_params}: up to ten tries at a region of a uniformly
     * drawn area fraction in [0.08, 1] and a log-uniform aspect ratio in [3/4, 4/3] that fits the
     * image, else the largest central region whose ratio lies in that range. Returns
     * {left, top, width, height}.
     */
    public static int[] randomResizedCrop(int width, int height, RandomGenerator rng) {
        if (width <= 0 || height <= 0) throw new GraftException("image size must be positive, got " + width + "x" + height);
        double area = (double) width * height;
        double logMin = Math.log(MIN_RATIO), logMax = Math.log(MAX_RATIO);
        for (int attempt = 0; attempt < 10; attempt++) {
            double target = area * (MIN_SCALE + (MAX_SCALE - MIN_SCALE) * rng.nextDouble());
            double aspect = Math.exp(logMin + (logMax - logMin) * rng.nextDouble());
            int w = (int) Math.rint(Math.sqrt(target * aspect));
            int h = (int) Math.rint(Math.sqrt(target / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height) {
                int top = rng.nextInt(height - h + 1), left = rng.nextInt(width - w + 1);
                return new int[] {left, top, w, h};
            }
        }
        double ratio = (double) width / height;
        int w, h;
        if (ratio < MIN_RATIO) {
            w = width;
            h = (int) Math.rint(w / MIN_RATIO);
        } else if (ratio > MAX_RATIO) {
            h = height;
            w = (int) Math.rint(h * MAX_RATIO);
        } else {
            w = width;
            h = height;
        }
        w = Math.clamp(w, 1, width);
        h = Math.clamp(h, 1, height);
        return new int[] {(width - w) / 2, (height - h) / 2, w, h};
    }

    @Override
    public String toString() {
        return "Preprocessor[" + (training ? "train" : "eval") + ", " + config + "]";
    }
}
