package dev.graft.tensor;

import dev.graft.backend.Backend;

/**
 * A flat buffer of elements owned by one backend. Tensors are views (shape, strides, offset) over a
 * storage; several tensors may share one.
 */
public abstract class Storage {
    private static final java.util.concurrent.atomic.AtomicLong SERIALS = new java.util.concurrent.atomic.AtomicLong();

    private final long serial = SERIALS.incrementAndGet();

    /** Creation order: a storage created later has a larger serial. */
    public final long serial() {
        return serial;
    }

    /** The serial of the most recently created storage (of any backend, on any thread). */
    public static long lastSerial() {
        return SERIALS.get();
    }

    /** Number of elements. */
    public abstract int size();

    /** The backend whose kernels read and write this storage. */
    public abstract Backend backend();
}
