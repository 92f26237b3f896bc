package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.ToIntFunction;
import java.util.random.RandomGenerator;

/**
 * Mini-batches of decoded samples, prepared by worker threads ahead of the training step (at most
 * {@code prefetch} batches ahead), as PyTorch's DataLoader with workers.
 *
 * <p>Deterministic: the epoch's order is a shuffle seeded by ({@code seed}, epoch), and each sample
 * is decoded with its own random generator seeded by ({@code seed}, epoch, position), so the batches
 * are the same for any number of threads. A sample whose decoder throws is left out of its batch and
 * recorded in {@link #skipped()} (path and reason), once per sample; training continues.
 *
 * @param <S> the sample type (e.g. {@link ImageFolder.Sample})
 */
public final class DataLoader<S> implements AutoCloseable {
    /** Turns a sample into a float array of {@link #sampleShape} elements (e.g. CHW pixels). */
    @FunctionalInterface
    public interface Decoder<S> {
        float[] decode(S sample, RandomGenerator rng) throws Exception;
    }

    /** One batch: the stacked samples (N, sampleShape...) and their labels. */
    public record Batch<S>(Tensor inputs, int[] labels, List<S> samples) {
        public int size() {
            return labels.length;
        }
    }

    /** A sample that could not be decoded. */
    public record Skipped(String sample, String reason) {}

    private final List<S> samples;
    private final ToIntFunction<S> label;
    private final Decoder<S> decoder;
    private final int[] sampleShape;
    private final int sampleSize;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final int prefetch;
    private final ExecutorService workers;
    private final java.util.Map<String, Skipped> skipped = Collections.synchronizedMap(new java.util.LinkedHashMap<>());

    /**
     * @param threads decoding threads (≥ 1)
     * @param prefetch batches prepared ahead (≥ 1)
     */
    public DataLoader(List<S> samples, ToIntFunction<S> label, Decoder<S> decoder, int[] sampleShape, int batchSize,
                      boolean shuffle, long seed, int threads, int prefetch) {
        if (samples.isEmpty()) throw new GraftException("data loader: no samples");
        if (batchSize <= 0) throw new GraftException("batch size must be positive, got " + batchSize);
        if (threads <= 0 || prefetch <= 0) throw new GraftException("data loader threads and prefetch must be positive, got " + threads + " and " + prefetch);
        this.samples = List.copyOf(samples);
        this.label = label;
        this.decoder = decoder;
        this.sampleShape = sampleShape.clone();
        int n = 1;
        for (int d : sampleShape) n = Math.multiplyExact(n, d);
        this.sampleSize = n;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
        this.prefetch = prefetch;
        this.workers = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "graft-data");
            t.setDaemon(true);
            return t;
        });
    }

    public int size() {
        return samples.size();
    }

    /** Number of batches per epoch (the last may be smaller). */
    public int batchesPerEpoch() {
        return (samples.size() + batchSize - 1) / batchSize;
    }

    /** The samples that failed to decode so far, in the order first seen. */
    public List<Skipped> skipped() {
        synchronized (skipped) {
            return List.copyOf(skipped.values());
        }
    }

    /** The batches of one epoch (epoch numbers give different shuffles and augmentations). */
    public Iterable<Batch<S>> epoch(int epoch) {
        List<S> order = new ArrayList<>(samples);
        if (shuffle) Collections.shuffle(order, new SplittableRandom(mix(seed, epoch, -1)));
        return () -> new BatchIterator(order, epoch);
    }

    private final class BatchIterator implements Iterator<Batch<S>> {
        private final List<S> order;
        private final int epoch;
        private final ArrayDeque<List<Future<float[]>>> pending = new ArrayDeque<>();
        private int nextStart;
        private int delivered;

        BatchIterator(List<S> order, int epoch) {
            this.order = order;
            this.epoch = epoch;
            fill();
        }

        private void fill() {
            while (pending.size() < prefetch && nextStart < order.size()) {
                int start = nextStart, end = Math.min(order.size(), start + batchSize);
                List<Future<float[]>> futures = new ArrayList<>(end - start);
                for (int i = start; i < end; i++) {
                    S s = order.get(i);
                    long sampleSeed = mix(seed, epoch, i);
                    futures.add(workers.submit(() -> decodeOne(s, sampleSeed)));
                }
                pending.add(futures);
                nextStart = end;
            }
        }

        private float[] decodeOne(S s, long sampleSeed) {
            try {
                float[] x = decoder.decode(s, new SplittableRandom(sampleSeed));
                if (x.length != sampleSize)
                    throw new GraftException("decoded " + x.length + " values, expected " + sampleSize);
                return x;
            } catch (Exception e) {
                String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                String name = s instanceof ImageFolder.Sample is ? is.path().toString() : String.valueOf(s);
                skipped.putIfAbsent(name, new Skipped(name, reason));
                return null;
            }
        }

        @Override
        public boolean hasNext() {
            return delivered < order.size();
        }

        @Override
        public Batch<S> next() {
            if (!hasNext()) throw new NoSuchElementException();
            while (true) {
                List<Future<float[]>> futures = pending.poll();
                int start = delivered;
                delivered += futures.size();
                fill();
                List<float[]> xs = new ArrayList<>();
                List<S> kept = new ArrayList<>();
                for (int i = 0; i < futures.size(); i++) {
                    float[] x = await(futures.get(i));
                    if (x == null) continue;
                    xs.add(x);
                    kept.add(order.get(start + i));
                }
                if (!xs.isEmpty()) return stack(xs, kept);
                if (!hasNext()) throw new GraftException("data loader: every sample of the last batch failed to decode (see the skipped list)");
            }
        }
    }

    private Batch<S> stack(List<float[]> xs, List<S> kept) {
        float[] data = new float[xs.size() * sampleSize];
        int[] labels = new int[xs.size()];
        for (int i = 0; i < xs.size(); i++) {
            System.arraycopy(xs.get(i), 0, data, i * sampleSize, sampleSize);
            labels[i] = label.applyAsInt(kept.get(i));
        }
        int[] shape = new int[sampleShape.length + 1];
        shape[0] = xs.size();
        System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
        return new Batch<>(Tensor.of(data, shape), labels, List.copyOf(kept));
    }

    private static float[] await(Future<float[]> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GraftException("interrupted while loading data");
        } catch (ExecutionException e) {
            throw new IllegalStateException("data loader worker failed", e.getCause());
        }
    }

    /** A well-mixed 64-bit seed from (seed, epoch, position) (SplitMix64 finalizer). */
    public static long mix(long seed, int epoch, int position) {
        long z = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + position * 0x94D049BB133111EBL + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public void close() {
        workers.shutdownNow();
    }
}
