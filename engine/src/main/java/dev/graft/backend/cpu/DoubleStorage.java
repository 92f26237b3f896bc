package dev.graft.backend.cpu;

import dev.graft.backend.Backend;
import dev.graft.backend.reference.ReferenceBackend;

/** float64 elements in a {@code double[]}; served by the scalar {@link ReferenceBackend} (gradient checks). */
public final class DoubleStorage extends HostStorage {
    public final double[] data;

    public DoubleStorage(double[] data) {
        this.data = data;
    }

    @Override public int size() { return data.length; }
    @Override public Backend backend() { return ReferenceBackend.FLOAT64; }
    @Override public double get(int index) { return data[index]; }
    @Override public void set(int index, double value) { data[index] = value; }
}
