package dev.graft.tensor;

import dev.graft.backend.Backend;

/**
 * A flat buffer of elements owned by one backend. Tensors are views (shape, strides, offset) over a
 * storage; several tensors may share one.
 */
public abstract class Storage {
    /** Number of elements. */
    public abstract int size();

    /** The backend whose kernels read and write this storage. */
    public abstract Backend backend();
}
