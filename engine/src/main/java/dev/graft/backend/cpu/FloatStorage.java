package dev.graft.backend.cpu;

import dev.graft.backend.Backend;

/** float32 elements in a {@code float[]}; served by {@link CpuBackend}. */
public final class FloatStorage extends HostStorage {
    public final float[] data;
    /** A pool-sized array not yet released: {@link CpuMemory#release} may return it to the pool (guarded by CpuMemory). */
    boolean recyclable;

    public FloatStorage(float[] data) {
        this.data = data;
    }

    @Override public int size() { return data.length; }
    @Override public Backend backend() { return CpuBackend.instance(); }
    @Override public double get(int index) { return data[index]; }
    @Override public void set(int index, double value) { data[index] = (float) value; }
}
