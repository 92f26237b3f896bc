package dev.graft.backend.cuda;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The float32 CUDA backend: device memory from {@link CudaMemory}'s caching allocator and Graft's own
 * kernels (graft-kernels' {@code .cu} sources) launched through a {@link GpuDriver}, with cuBLAS and
 * cuDNN taking GEMM and convolution where they load ({@link CudaLibraries}). This class holds memory,
 * copies, launches and dispatch; the kernels' host sides live in {@link CudaElementwise},
 * {@link CudaReductions}, {@link CudaNormalization}, {@link CudaPooling}, {@link CudaConvolution},
 * {@link CudaGemm} and {@link CudaOptimizers}.
 *
 * <p>Where there is no GPU, {@link #emulated()} runs the same backend on {@link EmulatedGpu}, the
 * kernels compiled for the CPU; the tests compare it with the CPU backend op by op.
 */
public final class CudaBackend implements Backend {
    /** Threads per block of the element-wise (grid-stride) kernels. */
    static final int BLOCK = 256;

    /**
     * {@code -Dgraft.cuda.poison=true} (the tests set it): uninitialized allocations are NaN-filled, so
     * a kernel that leaves part of its output unwritten fails its parity test.
     */
    private static final boolean POISON = Boolean.getBoolean("graft.cuda.poison");

    private static final Map<Integer, CudaBackend> DEVICES = new ConcurrentHashMap<>();
    private static volatile CudaBackend emulated;

    private final GpuDriver gpu;
    private final Device device;
    private final CudaMemory memory;
    private final CudaLibraries libraries;
    private final Map<String, GpuDriver.Function> functions = new ConcurrentHashMap<>();

    CudaBackend(GpuDriver gpu, Device device, CudaLibraries libraries) {
        this.gpu = gpu;
        this.device = device;
        this.memory = new CudaMemory(gpu);
        this.libraries = libraries;
    }

    /**
     * The backend of GPU {@code index}: JCuda's driver API with the PTX of graft-kernels, cuBLAS and
     * cuDNN where they load. With {@code -Dgraft.cuda.emulate=true} (or {@code GRAFT_CUDA_EMULATE=true})
     * every index maps to {@link #emulated()}. Fails with one line naming what is missing.
     */
    public static CudaBackend forDevice(int index) {
        if (emulationRequested()) return emulated();
        return DEVICES.computeIfAbsent(index, i -> {
            JCudaGpu gpu = JCudaGpu.open(i);
            return new CudaBackend(gpu, Device.cuda(i), CudaLibraries.load(gpu));
        });
    }

    static boolean emulationRequested() {
        return Boolean.getBoolean("graft.cuda.emulate") || "true".equalsIgnoreCase(System.getenv("GRAFT_CUDA_EMULATE"));
    }

    /** The backend on the CPU emulation of the kernels (device "cuda:0"); fails when graft-kernels was built without it. */
    public static CudaBackend emulated() {
        CudaBackend b = emulated;
        if (b != null) return b;
        synchronized (CudaBackend.class) {
            if (emulated == null) {
                EmulatedGpu gpu = EmulatedGpu.load().orElseThrow(() -> new GraftException(
                        "the CUDA kernel emulation is not in this build of graft-kernels (it needs a C++ compiler at build time)"));
                emulated = new CudaBackend(gpu, Device.cuda(0), CudaLibraries.none("emulation: Graft's kernels only"));
            }
            return emulated;
        }
    }

    /** Whether the emulation library is in this build (tests skip the emulated backend visibly otherwise). */
    public static boolean emulationAvailable() {
        return EmulatedGpu.class.getResource(EmulatedGpu.RESOURCE) != null;
    }

    @Override public Device device() { return device; }

    @Override public DType dtype() { return DType.FLOAT32; }

    @Override public String toString() { return "CudaBackend(" + device + ", " + gpu.description() + ")"; }

    public GpuDriver gpu() { return gpu; }

    /** Which library serves GEMM and convolution, for {@code graft doctor}. */
    public CudaLibraries libraries() { return libraries; }

    /** Device memory held by live tensors (their allocator blocks), in bytes. */
    public long liveBytes() { return memory.liveBytes(); }

    @Override
    public void synchronize() {
        gpu.synchronize();
    }

    // ---------------------------------------------------------------- addresses and launches

    /** Device address of element 0 of {@code s}. */
    public long address(Storage s) {
        if (s instanceof CudaMemory.CudaStorage c && c.backend() == this) return c.address;
        throw new GraftException("CudaBackend (" + device + ") got a tensor stored in " + s.getClass().getSimpleName()
                + " of backend " + s.backend() + "; move it with tensor.to(...) first");
    }

    /** Device address of {@code t}'s first element (its storage plus its offset). */
    public long address(Tensor t) {
        return address(t.storage()) + 4L * t.offset();
    }

    /** The address of {@code t}, or 0 (a null pointer for the kernel) when {@code t} is null. */
    public long addressOrNull(Tensor t) {
        return t == null ? 0L : address(t);
    }

    GpuDriver.Function function(String name) {
        return functions.computeIfAbsent(name, gpu::function);
    }

    /** Launches kernel {@code name} on a grid of blocks. */
    public void launch(String name, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                       KernelArgs args) {
        gpu.launch(function(name), gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, args);
    }

    /** Launches a grid-stride kernel over {@code n} items: {@link #BLOCK} threads per block, enough blocks to fill the GPU. */
    public void launch1d(String name, long n, KernelArgs args) {
        if (n <= 0) return;
        long blocks = Math.min((n + BLOCK - 1) / BLOCK, 32L * gpu.multiprocessors());
        launch(name, (int) blocks, 1, 1, BLOCK, 1, 1, 0, args);
    }

    // ---------------------------------------------------------------- memory

    @Override
    public Storage allocate(int size) {
        Storage s = memory.storage(this, size);
        gpu.memsetZero(address(s), 4L * size);
        return s;
    }

    @Override
    public Storage allocateUninitialized(int size) {
        Storage s = memory.storage(this, size);
        if (POISON && size > 0)
            launch1d("fill_value_f32", size, KernelArgs.of().ptr(address(s)).i64(size).f32(Float.NaN));
        return s;
    }

    @Override
    public void release(Storage storage) {
        if (storage instanceof CudaMemory.CudaStorage c && c.backend() == this) c.release();
    }

    @Override
    public Storage fromFloats(float[] values) {
        Storage s = memory.storage(this, values.length);
        gpu.copyToDevice(values, 0, address(s), values.length);
        return s;
    }

    @Override
    public Storage fromDoubles(double[] values) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
        return fromFloats(f);
    }

    @Override
    public void readFloats(Storage src, int srcOffset, float[] dst, int dstOffset, int count) {
        if (count == 0) return;
        gpu.copyToHost(address(src) + 4L * srcOffset, dst, dstOffset, count);
    }

    @Override
    public void readDoubles(Storage src, int srcOffset, double[] dst, int dstOffset, int count) {
        float[] f = new float[count];
        readFloats(src, srcOffset, f, 0, count);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = f[i];
    }

    @Override
    public void copy(int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides) {
        CudaElementwise.copy(this, shape, src, srcOffset, srcStrides, dst, dstOffset, dstStrides);
    }

    @Override
    public void fill(Tensor dst, double value) {
        CudaElementwise.fill(this, dst, value);
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor y) {
        CudaElementwise.unary(this, op, x, y);
    }

    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx) {
        CudaElementwise.unaryBackward(this, op, x, dy, dx);
    }

    @Override
    public void binary(BinaryOp op, int[] shape, Tensor a, int[] aStrides, Tensor b, int[] bStrides, Tensor out) {
        CudaElementwise.binary(this, op, shape, a, aStrides, b, bStrides, out);
    }

    @Override
    public void scalar(ScalarOp op, Tensor x, double s, Tensor y) {
        CudaElementwise.scalar(this, op, x, s, y);
    }

    // ---------------------------------------------------------------- reductions

    @Override
    public void sum(int[] shape, Tensor x, int[] outStrides, Tensor out) {
        CudaReductions.sum(this, shape, x, outStrides, out);
    }

    @Override
    public void softmax(Tensor x, Tensor y, int outer, int n, int inner, boolean log) {
        CudaReductions.softmax(this, x, y, outer, n, inner, log);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log) {
        CudaReductions.softmaxBackward(this, y, dy, dx, outer, n, inner, log);
    }

    // ---------------------------------------------------------------- linear algebra and convolution

    @Override
    public void gemm(boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
                     Tensor a, int strideA, Tensor b, int strideB, double beta, Tensor c, int strideC) {
        CudaGemm.gemm(this, transA, transB, batch, m, n, k, alpha, a, strideA, b, strideB, beta, c, strideC);
    }

    @Override
    public void conv2dForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        CudaConvolution.forward(this, g, x, weight, bias, y);
    }

    @Override
    public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) {
        CudaConvolution.backwardData(this, g, dy, weight, dx);
    }

    @Override
    public void conv2dBackwardWeight(ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) {
        CudaConvolution.backwardWeight(this, g, x, dy, dWeight);
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormStats(int n, int c, int hw, Tensor x, Tensor mean, Tensor var) {
        CudaNormalization.stats(this, n, c, hw, x, mean, var);
    }

    @Override
    public void batchNormUpdateStats(int c, Tensor mean, Tensor var, double eps, double momentum, long count,
                                     Tensor runningMean, Tensor runningVar, Tensor invStd) {
        CudaNormalization.updateStats(this, c, mean, var, eps, momentum, count, runningMean, runningVar, invStd);
    }

    @Override
    public void batchNormInverseStd(int c, Tensor var, double eps, Tensor invStd) {
        CudaNormalization.updateStats(this, c, null, var, eps, 0, 2, null, null, invStd);
    }

    @Override
    public void batchNormForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight, Tensor bias, Tensor y) {
        CudaNormalization.forward(this, n, c, hw, x, mean, invStd, weight, bias, null, null, y);
    }

    @Override
    public void batchNormActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                           Tensor bias, UnaryOp act, Tensor z) {
        CudaNormalization.forward(this, n, c, hw, x, mean, invStd, weight, bias, null, act, z);
    }

    @Override
    public void batchNormAddActivationForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight,
                                              Tensor bias, Tensor residual, UnaryOp act, Tensor z) {
        CudaNormalization.forward(this, n, c, hw, x, mean, invStd, weight, bias, residual, act, z);
    }

    @Override
    public void batchNormBackward(int n, int c, int hw, Tensor x, Tensor dy, Tensor mean, Tensor invStd, Tensor weight,
                                  boolean batchStats, Tensor dx, Tensor dWeight, Tensor dBias) {
        CudaNormalization.backward(this, n, c, hw, x, null, dy, mean, invStd, weight, batchStats, null, dx, dWeight, dBias);
    }

    @Override
    public void batchNormActivationBackward(int n, int c, int hw, Tensor x, Tensor z, Tensor dz, Tensor mean, Tensor invStd,
                                            Tensor weight, boolean batchStats, UnaryOp act, Tensor dx, Tensor dWeight, Tensor dBias) {
        CudaNormalization.backward(this, n, c, hw, x, z, dz, mean, invStd, weight, batchStats, act, dx, dWeight, dBias);
    }

    // ---------------------------------------------------------------- pooling

    @Override
    public void maxPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        CudaPooling.maxForward(this, g, x, y);
    }

    @Override
    public void maxPool2dBackward(PoolGeometry g, Tensor x, Tensor dy, Tensor dx) {
        CudaPooling.maxBackward(this, g, x, dy, dx);
    }

    @Override
    public void avgPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        CudaPooling.avgForward(this, g, x, y);
    }

    @Override
    public void avgPool2dBackward(PoolGeometry g, Tensor dy, Tensor dx) {
        CudaPooling.avgBackward(this, g, dy, dx);
    }

    @Override
    public void adaptiveAvgPool2dForward(int planes, int h, int w, int oh, int ow, Tensor x, Tensor y) {
        CudaPooling.adaptiveForward(this, planes, h, w, oh, ow, x, y);
    }

    @Override
    public void adaptiveAvgPool2dBackward(int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx) {
        CudaPooling.adaptiveBackward(this, planes, h, w, oh, ow, dy, dx);
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum, double dampening,
                        double weightDecay, boolean nesterov, boolean firstStep) {
        CudaOptimizers.sgd(this, param, grad, momentumBuffer, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1, double beta2,
                          double eps, double weightDecay, int step) {
        CudaOptimizers.adamw(this, param, grad, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, step);
    }
}
