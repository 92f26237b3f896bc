package dev.graft.data;

import dev.graft.GraftException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * An image classification dataset laid out as folders of classes, as torchvision's ImageFolder and
 * Keras' image_dataset_from_directory read it: {@code ROOT/<class>/<image>}. Classes are the
 * sub-folder names in sorted order (so label i is {@code classes().get(i)}); images are the files with
 * an image extension, in sorted order. Hidden files and folders are ignored.
 *
 * @param root    the folder of class folders
 * @param classes class names, sorted
 * @param samples every image with its label, sorted by class then file name
 */
public record ImageFolder(Path root, List<String> classes, List<Sample> samples) {
    /** File extensions read as images (lower case): torchvision's that ImageIO decodes; like torchvision, GIFs are not samples. */
    public static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "tif", "tiff");

    /** One image and its class index. */
    public record Sample(Path path, int label) {}

    public ImageFolder {
        classes = List.copyOf(classes);
        samples = List.copyOf(samples);
    }

    /**
     * Scans {@code root}. Fails with one line naming the folder when it does not exist, has no class
     * folders, or a class folder holds no images.
     */
    public static ImageFolder scan(Path root) {
        if (!Files.isDirectory(root)) throw new GraftException("dataset folder " + root + " does not exist or is not a folder");
        List<Path> classDirs = list(root).stream().filter(Files::isDirectory).toList();
        if (classDirs.isEmpty()) throw new GraftException("dataset folder " + root + " has no class folders (expected " + root + "/<class>/<image>)");
        List<String> classes = new ArrayList<>();
        List<Sample> samples = new ArrayList<>();
        for (Path dir : classDirs) {
            int label = classes.size();
            classes.add(dir.getFileName().toString());
            List<Path> images = list(dir).stream().filter(p -> Files.isRegularFile(p) && isImage(p)).toList();
            if (images.isEmpty()) throw new GraftException("class folder " + dir + " holds no images (" + String.join(", ", EXTENSIONS.stream().sorted().toList()) + ")");
            for (Path p : images) samples.add(new Sample(p, label));
        }
        return new ImageFolder(root, classes, samples);
    }

    /**
     * The train and validation splits of a dataset folder: {@code DIR/train} with {@code DIR/val} (the
     * PyTorch tutorial's layout) or {@code DIR/validation} (TensorFlow's). Both must have the same
     * classes. With neither, {@code DIR} itself is a folder of classes and {@code valFraction} of each
     * class (at least one image) is held out for validation, chosen with {@code seed}.
     */
    public static Split split(Path dir, double valFraction, long seed) {
        if (!Files.isDirectory(dir)) throw new GraftException("dataset folder " + dir + " does not exist or is not a folder");
        Path train = dir.resolve("train");
        Path val = Files.isDirectory(dir.resolve("val")) ? dir.resolve("val") : dir.resolve("validation");
        Split s;
        if (Files.isDirectory(train)) {
            if (!Files.isDirectory(val))
                throw new GraftException("dataset folder " + dir + " has train/ but neither val/ nor validation/");
            ImageFolder t = scan(train), v = scan(val);
            if (!t.classes().equals(v.classes()))
                throw new GraftException("the classes of " + train + " " + t.classes() + " differ from those of " + val + " " + v.classes());
            s = new Split(t, v);
        } else {
            if (!(valFraction > 0 && valFraction < 1))
                throw new GraftException("dataset folder " + dir + " has no train/ and val/ folders; give a validation fraction between 0 and 1 (--val-split)");
            s = scan(dir).holdOut(valFraction, seed);
        }
        if (s.train().classes().size() < 2)
            throw new GraftException("dataset " + dir + " has a single class " + s.train().classes() + "; classification needs at least two");
        return s;
    }

    /** Splits each class: a shuffled {@code fraction} of its images (at least one, and at least one left) goes to validation. */
    public Split holdOut(double fraction, long seed) {
        List<Sample> train = new ArrayList<>(), val = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(seed);
        for (int c = 0; c < classes.size(); c++) {
            final int label = c;
            List<Sample> of = new ArrayList<>(samples.stream().filter(s -> s.label() == label).toList());
            if (of.size() < 2) throw new GraftException("class folder " + root.resolve(classes.get(c)) + " has " + of.size() + " image; a validation split needs at least 2");
            Collections.shuffle(of, rng);
            int n = Math.clamp(Math.round(of.size() * fraction), 1, of.size() - 1);
            val.addAll(of.subList(0, n));
            train.addAll(of.subList(n, of.size()));
        }
        java.util.Comparator<Sample> order = java.util.Comparator.comparingInt(Sample::label).thenComparing(s -> s.path().toString());
        train.sort(order);
        val.sort(order);
        return new Split(new ImageFolder(root, classes, train), new ImageFolder(root, classes, val));
    }

    /** Number of images. */
    public int size() {
        return samples.size();
    }

    /** Images per class, in class order. */
    public int[] classCounts() {
        int[] n = new int[classes.size()];
        for (Sample s : samples) n[s.label()]++;
        return n;
    }

    /** A training and a validation set with the same classes. */
    public record Split(ImageFolder train, ImageFolder val) {}

    static boolean isImage(Path p) {
        String name = p.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    /** Non-hidden entries of a folder, sorted by name. */
    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new GraftException("cannot list " + dir + ": " + e.getMessage());
        }
    }
}
