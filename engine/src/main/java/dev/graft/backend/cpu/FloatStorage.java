package dev.graft.backend.cpu;

import dev.graft.backend.Backend;

/** float32 elements in a {@code float[]}; served by {@link CpuBackend}. */
public final class FloatStorage extends HostStorage {
    public final float[] data;
    /** For pooled arrays: returns {@link #data} to {@link CpuMemory}'s pool (at most once). */
    java.lang.ref.Cleaner.Cleanable recycle;

    public FloatStorage(float[] data) {
        this.data = data;
    }

    @Override public int size() { return data.length; }
    @Override public Backend backend() { return CpuBackend.instance(); }
    @Override public double get(int index) { return data[index]; }
    @Override public void set(int index, double value) { data[index] = (float) value; }
}
