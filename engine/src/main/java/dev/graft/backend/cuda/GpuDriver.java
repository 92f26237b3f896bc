package dev.graft.backend.cuda;

/**
 * The few things the CUDA backend asks of a GPU: device memory, copies, kernel lookup and launches,
 * all in order on one stream. Two implementations: {@link JCudaGpu} (a real GPU through JCuda's
 * driver API, kernels from the PTX in graft-kernels) and {@link EmulatedGpu} (the same kernel sources
 * compiled for the CPU, so the backend and its kernels are exercised where there is no GPU).
 *
 * <p>Device addresses are plain {@code long}s. Launches and device-to-device copies are asynchronous
 * (stream-ordered); copies to the host wait for the stream.
 */
public interface GpuDriver {
    /** A kernel entry point ready to launch. */
    interface Function {
        String name();
    }

    /** What this driver runs on, for messages and {@code graft doctor}, e.g. "NVIDIA H200 (sm_90)". */
    String description();

    /** Streaming multiprocessors (the emulation reports a small number), to size grid-stride launches. */
    int multiprocessors();

    /** Allocates {@code bytes} of device memory (256-byte aligned); throws {@link CudaException} when out of memory. */
    long malloc(long bytes);

    void free(long address);

    /** Sets {@code bytes} bytes at {@code address} to zero, stream-ordered. */
    void memsetZero(long address, long bytes);

    /** Copies {@code count} floats from the host array to device memory; returns when the source may be reused. */
    void copyToDevice(float[] src, int srcIndex, long dst, int count);

    /** Copies {@code count} floats from device memory into the host array, after all queued work. */
    void copyToHost(long src, float[] dst, int dstIndex, int count);

    /** Device-to-device copy of {@code bytes}, stream-ordered. */
    void copyOnDevice(long src, long dst, long bytes);

    /** The kernel named {@code name} (its extern "C" name), or a {@link CudaException} naming it. */
    Function function(String name);

    /** Queues a launch of {@code f} on the stream. */
    void launch(Function f, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes, KernelArgs args);

    /** Waits for all queued work; reports a failed kernel as a {@link CudaException}. */
    void synchronize();
}
