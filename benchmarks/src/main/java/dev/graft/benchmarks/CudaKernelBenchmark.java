package dev.graft.benchmarks;

import dev.graft.backend.ConvGeometry;
import dev.graft.backend.cuda.CudaBackend;
import dev.graft.backend.cuda.CudaKernels;
import dev.graft.backend.cuda.CudaKernels.Path;
import dev.graft.tensor.Tensor;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Graft's CUDA GEMM and convolution kernels against cuBLAS and cuDNN on the same GPU in the same run
 * ({@link CudaKernels.Path}: GRAFT_FP32, GRAFT_TF32, LIBRARY_FP32, LIBRARY_TF32). Each call queues
 * the kernel and waits for the GPU ({@link CudaBackend#synchronize}), so the time per call is the
 * kernel's plus one launch and one synchronisation (a few microseconds, small next to these shapes).
 * The {@code gflops} counter reports GFLOP/s (2·MACs per call).
 *
 * <p>Shapes: {@code gemm4096} (the 4096³ target: Graft's TF32 kernel at least 70% of
 * cuBLAS's) and ResNet-50's convolutions at batch 32, 224×224: a 3×3 of layer1 and layer3, and a 1×1
 * reduction of layer1. Needs a GPU: without one the setup fails with the reason (graft doctor).
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks/target/benchmarks.jar
 * CudaKernelBenchmark -p shape=gemm4096}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class CudaKernelBenchmark {
    /** A GEMM (m, n, k) when {@code conv} is null, else a convolution's input channels, size, output channels, kernel, stride. */
    record Shape(int m, int n, int k, int[] conv) {}

    static final Map<String, Shape> SHAPES = Map.of(
            "gemm4096", new Shape(4096, 4096, 4096, null),
            "r50_layer1_3x3", new Shape(0, 0, 0, new int[] {64, 56, 64, 3, 1}),
            "r50_layer1_1x1", new Shape(0, 0, 0, new int[] {256, 56, 64, 1, 1}),
            "r50_layer3_3x3", new Shape(0, 0, 0, new int[] {256, 14, 256, 3, 1}));

    @Param({"gemm4096", "r50_layer1_3x3", "r50_layer1_1x1", "r50_layer3_3x3"})
    public String shape;

    @Param({"GRAFT_FP32", "GRAFT_TF32", "LIBRARY_FP32", "LIBRARY_TF32"})
    public Path path;

    @Param({"32"})
    public int batch;

    private CudaBackend b;
    private Tensor a, bm, c, x, w, y, dy, dx, dw;
    private ConvGeometry g;
    private double gflopPerCall;

    @Setup(Level.Trial)
    public void setUp() {
        b = CudaBackend.forDevice(0);
        Shape s = SHAPES.get(shape);
        if (s == null) throw new IllegalArgumentException("unknown shape '" + shape + "'; known: " + SHAPES.keySet());
        SplittableRandom rng = new SplittableRandom(42);
        if (s.conv == null) {
            if (!CudaKernels.gemmAvailable(b, path)) throw new IllegalStateException("no cuBLAS: " + b.libraries().summary());
            a = Tensor.randn(rng, s.m, s.k).to(b);
            bm = Tensor.randn(rng, s.k, s.n).to(b);
            c = Tensor.zeros(b, s.m, s.n);
            gflopPerCall = 2.0 * s.m * s.n * s.k / 1e9;
        } else {
            if (!CudaKernels.convAvailable(b, path)) throw new IllegalStateException("no cuDNN: " + b.libraries().summary());
            int[] v = s.conv;
            x = Tensor.randn(rng, batch, v[0], v[1], v[1]).to(b);
            w = Tensor.randn(rng, v[2], v[0], v[3], v[3]).to(b);
            g = ConvGeometry.of(x.shape(), w.shape(), new int[] {v[4], v[4]}, new int[] {v[3] / 2, v[3] / 2}, new int[] {1, 1}, 1);
            y = Tensor.zeros(b, g.outputShape());
            dy = Tensor.randn(rng, g.outputShape()).to(b);
            dx = Tensor.zeros(b, x.shape());
            dw = Tensor.zeros(b, w.shape());
            gflopPerCall = 2.0 * g.macs() / 1e9;
        }
        b.synchronize();
    }

    /** The GEMM, or the convolution's forward pass. */
    @Benchmark
    public void forward(Flops flops) {
        if (g == null) CudaKernels.gemm(b, path, c.size(0), c.size(1), a.size(1), a, bm, c);
        else CudaKernels.conv2dForward(b, path, g, x, w, y);
        b.synchronize();
        flops.gflops += gflopPerCall;
    }

    @Benchmark
    public void backwardData(Flops flops) {
        if (g == null) return;   // GEMM: forward only
        CudaKernels.conv2dBackwardData(b, path, g, dy, w, dx);
        b.synchronize();
        flops.gflops += gflopPerCall;
    }

    @Benchmark
    public void backwardWeight(Flops flops) {
        if (g == null) return;
        CudaKernels.conv2dBackwardWeight(b, path, g, x, dy, dw);
        b.synchronize();
        flops.gflops += gflopPerCall;
    }
}
