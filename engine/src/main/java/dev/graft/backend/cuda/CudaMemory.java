package dev.graft.backend.cuda;

import dev.graft.backend.Backend;
import dev.graft.tensor.Storage;
import java.lang.ref.Cleaner;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Device memory for one {@link CudaBackend}: storages and the caching allocator behind them.
 *
 * <p>Blocks are rounded up to size classes (512-byte steps up to 1 MiB, then 1/8 of the next power of
 * two) and kept in per-class free lists when their storage is released ({@link Backend#release}) or
 * garbage-collected (a {@link Cleaner}), so a training step reuses the previous step's blocks instead
 * of calling {@code cuMemAlloc}/{@code cuMemFree}. Reuse is safe without synchronisation because every
 * kernel runs on the one stream: a block handed out again is written only by work queued after the
 * work that read it. When the device is out of memory the allocator frees its cache, asks the JVM to
 * collect unreachable storages, and tries again.
 */
final class CudaMemory {
    private static final Cleaner CLEANER = Cleaner.create();

    private final GpuDriver gpu;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private long cachedBytes;
    private long liveBytes;

    CudaMemory(GpuDriver gpu) {
        this.gpu = gpu;
    }

    /** Bytes rounded up to the allocator's size class. */
    static long sizeClass(long bytes) {
        long b = Math.max(bytes, 1);
        if (b <= (1 << 20)) return (b + 511) & ~511L;
        long step = Long.highestOneBit(b - 1) >>> 2;  // quarter of the power of two below, i.e. 1/8 of the next
        return (b + step - 1) / step * step;
    }

    /** A block of at least {@code bytes}; its contents are unspecified. */
    synchronized long take(long bytes) {
        long size = sizeClass(bytes);
        ArrayDeque<Long> list = free.get(size);
        liveBytes += size;
        if (list != null && !list.isEmpty()) {
            cachedBytes -= size;
            return list.pop();
        }
        for (int attempt = 0; ; attempt++) {
            try {
                return gpu.malloc(size);
            } catch (CudaException e) {
                if (attempt == 3) {
                    liveBytes -= size;
                    throw new CudaException(e.getMessage() + " (" + (liveBytes >> 20) + " MiB in use by live tensors)");
                }
                releaseCache();
                // Unreachable storages return their blocks through the cleaner; give it a chance.
                System.gc();
                try {
                    wait(50L << attempt);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
                releaseCache();
            }
        }
    }

    synchronized void give(long address, long size) {
        liveBytes -= size;
        cachedBytes += size;
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(address);
        notifyAll();
    }

    /** Returns every cached block to the driver (after the queued work that may still use them). */
    synchronized void releaseCache() {
        if (cachedBytes == 0) return;
        gpu.synchronize();
        for (ArrayDeque<Long> list : free.values()) {
            for (long a : list) gpu.free(a);
        }
        free.clear();
        cachedBytes = 0;
    }

    synchronized long liveBytes() { return liveBytes; }

    /** A storage on a fresh block; the block goes back to the cache when the storage is released or collected. */
    Storage storage(CudaBackend backend, int size) {
        long bytes = 4L * size;
        long address = take(bytes);
        return new CudaStorage(backend, this, address, sizeClass(bytes), size);
    }

    /** float32 elements in device memory. */
    static final class CudaStorage extends Storage {
        private final CudaBackend backend;
        private final int size;
        final long address;
        private final Block block;
        private final Cleaner.Cleanable cleanable;

        /** The part the cleaner needs: no reference back to the storage. */
        private static final class Block implements Runnable {
            private final CudaMemory memory;
            private final long address;
            private final long bytes;
            private boolean returned;

            Block(CudaMemory memory, long address, long bytes) {
                this.memory = memory;
                this.address = address;
                this.bytes = bytes;
            }

            @Override
            public synchronized void run() {
                if (returned) return;
                returned = true;
                memory.give(address, bytes);
            }
        }

        CudaStorage(CudaBackend backend, CudaMemory memory, long address, long bytes, int size) {
            this.backend = backend;
            this.size = size;
            this.address = address;
            this.block = new Block(memory, address, bytes);
            this.cleanable = CLEANER.register(this, block);
        }

        @Override public int size() { return size; }

        @Override public Backend backend() { return backend; }

        void release() {
            cleanable.clean();
        }
    }
}
