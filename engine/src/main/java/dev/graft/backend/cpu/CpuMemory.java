package dev.graft.backend.cpu;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The float32 CPU backend's memory: large arrays are recycled instead of left to the garbage
 * collector. A training step allocates gigabytes of activations and gradients of the same few
 * sizes, step after step; fresh arrays of that size are zeroed by the JVM and, whenever the heap has
 * grown or shrunk, page-faulted in by the kernel, which on the measured machine cost more than the
 * element-wise kernels that fill them. Here an array goes back to a pool, keyed by its exact length,
 * when its storage is released explicitly ({@link #release}): autograd does so for gradients it
 * alone has seen, so a backward pass reuses its own temporaries at once, and a
 * {@link dev.graft.tensor.MemoryScope} for every op result of a step. The next request of that length
 * takes it. Storages never released are left to the garbage collector. (Recycling them once
 * unreachable, through a Cleaner, was measured and dropped: it keeps dead arrays alive until the
 * collector has noticed them and the cleaner thread has run, which grew the heap and made code
 * without scopes five times slower.)
 *
 * <p>Safety: an array is reused only after its storage was released, whose caller guarantees that
 * nothing reads or writes it again; a storage is released at most once. Pooled arrays are held by
 * soft references, which the collector clears before it would throw {@link OutOfMemoryError}, and
 * the pool holds at most {@link #CAP_BYTES} (half the maximum heap). Arrays below {@link #MIN_POOLED} elements
 * are allocated normally (the JVM's thread-local allocation is cheaper than pooling them).
 *
 * <p>{@code -Dgraft.cpu.pool=false} turns pooling off; {@code -Dgraft.cpu.poison=true} fills every
 * uninitialized allocation with NaN, so a kernel that leaves part of its output unwritten, or a
 * tensor used after its memory was released, shows up in tests (the engine's tests run with it).
 */
final class CpuMemory {
    private CpuMemory() {}

    /** Smallest array length that is pooled (128 KiB). */
    static final int MIN_POOLED = 1 << 15;
    static final long CAP_BYTES = Runtime.getRuntime().maxMemory() / 2;
    private static final boolean POOL = !"false".equals(System.getProperty("graft.cpu.pool"));
    private static final boolean POISON = Boolean.getBoolean("graft.cpu.poison");

    private static final Map<Integer, ArrayDeque<SoftReference<float[]>>> FREE = new HashMap<>();
    private static long pooledBytes;

    /** A storage of {@code size} zeros. */
    static FloatStorage zeros(int size) {
        if (!pooled(size)) return new FloatStorage(new float[size]);
        float[] a = take(size);
        if (a == null) a = new float[size];
        else fill(a, 0f);
        return recyclable(a);
    }

    /** A storage of {@code size} elements with unspecified contents (NaN under -Dgraft.cpu.poison=true). */
    static FloatStorage uninitialized(int size) {
        boolean pooled = pooled(size);
        float[] a = pooled ? take(size) : null;
        if (a == null) a = new float[size];
        if (POISON) fill(a, Float.NaN);
        return pooled ? recyclable(a) : new FloatStorage(a);
    }

    private static boolean pooled(int size) {
        return POOL && size >= MIN_POOLED;
    }

    private static FloatStorage recyclable(float[] a) {
        FloatStorage s = new FloatStorage(a);
        s.recyclable = true;
        return s;
    }

    /** A pooled array of exactly {@code size} elements, or null. */
    private static synchronized float[] take(int size) {
        ArrayDeque<SoftReference<float[]>> q = FREE.get(size);
        if (q == null) return null;
        SoftReference<float[]> r;
        while ((r = q.pollLast()) != null) {
            pooledBytes -= 4L * size;
            float[] a = r.get();
            if (a != null) return a;
        }
        return null;
    }

    private static synchronized void giveBack(float[] a) {
        long bytes = 4L * a.length;
        if (pooledBytes + bytes > CAP_BYTES) return;   // let the collector have it
        FREE.computeIfAbsent(a.length, k -> new ArrayDeque<>()).addLast(new SoftReference<>(a));
        pooledBytes += bytes;
    }

    /** Returns s's array to the pool (at most once per storage); the caller guarantees nothing uses s again. */
    static synchronized void release(FloatStorage s) {
        if (!s.recyclable) return;
        s.recyclable = false;
        giveBack(s.data);
    }

    private static void fill(float[] a, float v) {
        Parallel.forRange(0, a.length, 4 * CpuBackend.GRAIN, (s, e) -> Arrays.fill(a, s, e, v));
    }
}
