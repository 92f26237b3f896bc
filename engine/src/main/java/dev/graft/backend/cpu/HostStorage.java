package dev.graft.backend.cpu;

import dev.graft.tensor.Storage;

/** Storage in Java heap arrays. Element access by index serves the reference kernels. */
public abstract sealed class HostStorage extends Storage permits FloatStorage, DoubleStorage {
    public abstract double get(int index);

    public abstract void set(int index, double value);
}
