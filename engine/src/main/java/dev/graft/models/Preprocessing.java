package dev.graft.models;

import dev.graft.GraftException;
import java.util.Arrays;
import java.util.Objects;

/**
 * How images must be prepared for a model, as torchvision's ImageNet transforms: resize the shorter
 * side to {@code resizeSize} with {@code interpolation}, center-crop {@code cropSize} × {@code cropSize},
 * scale to [0, 1], then normalize each RGB channel by {@code (x − mean[c]) / std[c]}.
 * {@code inputSize} is the side the model was trained on (the crop, for ImageNet models).
 *
 * @param inputSize     side of the square input the model expects
 * @param resizeSize    side the shorter image edge is resized to before cropping
 * @param cropSize      side of the center crop
 * @param mean          per-channel (RGB) mean, 3 values
 * @param std           per-channel (RGB) standard deviation, 3 positive values
 * @param interpolation resize interpolation ("bilinear", "bicubic" or "nearest")
 * @param resize        how the image reaches {@code resizeSize}: {@link Resize#SHORTER_SIDE} keeps the aspect ratio
 *                      (torchvision), {@link Resize#STRETCH} resizes both sides to {@code resizeSize} (TFLite and Keras)
 */
public record Preprocessing(int inputSize, int resizeSize, int cropSize, double[] mean, double[] std, String interpolation,
                            Resize resize) {

    /** How an image is resized before the center crop. */
    public enum Resize {
        /** Shorter side to {@code resizeSize}, aspect ratio kept (torchvision's {@code Resize(int)}). */
        SHORTER_SIDE,
        /** Both sides to {@code resizeSize}, aspect ratio not kept (TFLite / Keras {@code image.resize}). */
        STRETCH
    }

    /** torchvision's ImageNet defaults: resize 256, center crop 224, ImageNet mean/std, bilinear. */
    public static final Preprocessing IMAGENET = new Preprocessing(224, 256, 224,
            new double[] {0.485, 0.456, 0.406}, new double[] {0.229, 0.224, 0.225}, "bilinear", Resize.SHORTER_SIDE);

    /** A torchvision-style config: shorter side to {@code resizeSize}, then the center crop. */
    public Preprocessing(int inputSize, int resizeSize, int cropSize, double[] mean, double[] std, String interpolation) {
        this(inputSize, resizeSize, cropSize, mean, std, interpolation, Resize.SHORTER_SIDE);
    }

    public Preprocessing {
        if (inputSize <= 0 || resizeSize <= 0 || cropSize <= 0)
            throw new GraftException("preprocessing sizes must be positive, got input " + inputSize + ", resize " + resizeSize + ", crop " + cropSize);
        if (cropSize > resizeSize)
            throw new GraftException("preprocessing crop " + cropSize + " is larger than the resize " + resizeSize);
        Objects.requireNonNull(mean, "mean");
        Objects.requireNonNull(std, "std");
        Objects.requireNonNull(interpolation, "interpolation");
        Objects.requireNonNull(resize, "resize");
        if (mean.length != 3 || std.length != 3)
            throw new GraftException("preprocessing needs 3 (RGB) mean and std values, got " + Arrays.toString(mean) + " and " + Arrays.toString(std));
        for (double s : std) if (!(s > 0)) throw new GraftException("preprocessing std values must be positive, got " + Arrays.toString(std));
        mean = mean.clone();
        std = std.clone();
    }

    /** The per-channel mean (a copy). */
    @Override
    public double[] mean() {
        return mean.clone();
    }

    /** The per-channel standard deviation (a copy). */
    @Override
    public double[] std() {
        return std.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessing p && inputSize == p.inputSize && resizeSize == p.resizeSize && cropSize == p.cropSize
                && Arrays.equals(mean, p.mean) && Arrays.equals(std, p.std) && interpolation.equals(p.interpolation) && resize == p.resize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(inputSize, resizeSize, cropSize, Arrays.hashCode(mean), Arrays.hashCode(std), interpolation, resize);
    }

    @Override
    public String toString() {
        return "Preprocessing[inputSize=" + inputSize + ", resizeSize=" + resizeSize + ", cropSize=" + cropSize + ", mean="
                + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + ", interpolation=" + interpolation + ", resize=" + resize + "]";
    }
}
