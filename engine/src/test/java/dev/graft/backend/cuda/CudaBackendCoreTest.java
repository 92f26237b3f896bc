package dev.graft.backend.cuda;

import static dev.graft.backend.cuda.CudaTesting.CPU;
import static dev.graft.backend.cuda.CudaTesting.assertClose;
import static dev.graft.backend.cuda.CudaTesting.randn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.backend.UnaryOp;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** Memory, copies, the caching allocator and launches of the CUDA backend. */
class CudaBackendCoreTest {
    private final Random rng = new Random(7);

    static java.util.stream.Stream<CudaBackend> backends() {
        return CudaTesting.backends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void identityAndRoundTrips(CudaBackend b) {
        assertThat(b.dtype()).isEqualTo(DType.FLOAT32);
        assertThat(b.device()).isEqualTo(Device.cuda(0));
        float[] v = {1.5f, -2f, Float.NaN, Float.NEGATIVE_INFINITY, 3e-39f};
        Storage s = b.fromFloats(v);
        float[] back = new float[7];
        b.readFloats(s, 1, back, 2, 4);
        assertThat(back).containsExactly(0, 0, -2f, Float.NaN, Float.NEGATIVE_INFINITY, 3e-39f, 0);
        double[] d = new double[2];
        b.readDoubles(b.fromDoubles(new double[] {0.25, 1e40}), 0, d, 0, 2);
        assertThat(d).containsExactly(0.25, Double.POSITIVE_INFINITY);
        Tensor zeros = Tensor.zeros(b, 1000);
        for (float f : zeros.toFloatArray()) assertThat(f).isZero();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void largeTransfersCrossTheStagingBuffer(CudaBackend b) {
        Tensor x = randn(rng, 3 * (1 << 21) + 17);  // more than one 8 MiB staging chunk
        Tensor y = x.to(b);
        assertThat(y.toFloatArray()).isEqualTo(x.toFloatArray());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void releasedBlocksAreReused(CudaBackend b) {
        Storage s = b.allocateUninitialized(1000);
        long address = b.address(s);
        long live = b.liveBytes();
        b.release(s);
        assertThat(b.liveBytes()).isEqualTo(live - CudaMemory.sizeClass(4000));
        Storage t = b.allocateUninitialized(1001);  // same size class
        assertThat(b.address(t)).isEqualTo(address);
        b.release(t);
        b.release(t);  // twice is harmless
        assertThat(b.liveBytes()).isEqualTo(live - CudaMemory.sizeClass(4000));
    }

    @Test
    void sizeClasses() {
        assertThat(CudaMemory.sizeClass(1)).isEqualTo(512);
        assertThat(CudaMemory.sizeClass(4000)).isEqualTo(4096);
        assertThat(CudaMemory.sizeClass(1 << 20)).isEqualTo(1 << 20);
        assertThat(CudaMemory.sizeClass((1 << 20) + 1)).isEqualTo((1 << 20) + (1 << 18));
        assertThat(CudaMemory.sizeClass(100_000_000)).isEqualTo(100_663_296);  // 96 MiB: 1/8 steps of 128 MiB
        for (long bytes = 1; bytes < 1L << 34; bytes = bytes * 3 + 7) {
            long c = CudaMemory.sizeClass(bytes);
            assertThat(c).isGreaterThanOrEqualTo(bytes).isLessThanOrEqualTo(bytes + bytes / 4 + 512);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void tensorsOfAnotherBackendAreRefusedWithTheirNames(CudaBackend b) {
        Tensor cpu = randn(rng, 4);
        assertThatThrownBy(() -> b.unary(UnaryOp.RELU, cpu, Tensor.zeros(b, 4)))
                .hasMessageContaining("CudaBackend (cuda:0) got a tensor stored in FloatStorage")
                .hasMessageContaining("tensor.to(");
    }

    @ParameterizedTest
    @MethodSource("backends")
    void reluMatchesTheCpuBackend(CudaBackend b) {
        Tensor x = randn(rng, 3, 1000);
        Tensor y = Tensor.zeros(b, 3, 1000);
        b.unary(UnaryOp.RELU, x.to(b), y);
        Tensor expected = Tensor.zeros(CPU, 3, 1000);
        CPU.unary(UnaryOp.RELU, x, expected);
        assertClose("relu", y, expected, 0);
    }

    /** The emulation's guard bytes catch a kernel writing outside its buffer, naming the kernel. */
    @Test
    void theEmulationCatchesAnOutOfBoundsWrite() {
        org.junit.jupiter.api.Assumptions.assumeTrue(CudaBackend.emulationAvailable(), "no kernel emulation in this build");
        GpuDriver gpu = CudaBackend.emulated().gpu();
        long buffer = gpu.malloc(64);   // 16 floats
        try {
            GpuDriver.Function fill = gpu.function("fill_value_f32");
            gpu.launch(fill, 1, 1, 1, 32, 1, 1, 0, KernelArgs.of().ptr(buffer).i64(16).f32(1f));   // in bounds
            assertThatThrownBy(() -> gpu.launch(fill, 1, 1, 1, 32, 1, 1, 0, KernelArgs.of().ptr(buffer).i64(17).f32(2f)))
                    .isInstanceOf(CudaException.class)
                    .hasMessageContaining("past the end of a device buffer of 64 bytes")
                    .hasMessageContaining("kernel fill_value_f32");
        } finally {
            // restore the guard so that freeing does not report the same write again
            java.lang.foreign.MemorySegment.ofAddress(buffer + 64).reinterpret(4).fill((byte) 0xA5);
            gpu.free(buffer);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void aMissingKernelIsNamed(CudaBackend b) {
        assertThatThrownBy(() -> b.launch1d("no_such_kernel", 10, KernelArgs.of()))
                .isInstanceOf(CudaException.class).hasMessageContaining("no_such_kernel");
    }
}
