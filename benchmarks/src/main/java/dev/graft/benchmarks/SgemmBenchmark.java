package dev.graft.benchmarks;

import dev.graft.backend.cpu.Parallel;
import dev.graft.backend.cpu.Sgemm;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * {@link Sgemm#sgemm} on square sizes and on the GEMMs inside ResNet-18 and MobileNetV2 at 224×224,
 * batch 1 (a convolution as im2col GEMM: m = output channels, n = output pixels, k = input channels ×
 * kernel area; the classifier as batch × in → out with the weight transposed, as {@code Linear}).
 *
 * <p>GFLOP/s: the {@code gflops} line (an {@link AuxCounters} counter that adds 2·m·n·k / 10⁹ per call,
 * which JMH reports per second) is the GFLOP/s; it equals the primary score (calls/s) × 2·m·n·k / 10⁹.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks/target/benchmarks.jar Sgemm
 * -p shape=sq1024 -p threads=1}. {@code threads=0} uses every core ({@code graft.threads} or the core count).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@State(Scope.Thread)
public class SgemmBenchmark {

    /** m, n, k and whether B is stored transposed (n×k, as a Linear weight). */
    record Shape(int m, int n, int k, boolean transB) {
        double gflop() {
            return 2.0 * m * n * k / 1e9;
        }
    }

    static final Map<String, Shape> SHAPES = Map.ofEntries(
            Map.entry("sq256", new Shape(256, 256, 256, false)),
            Map.entry("sq512", new Shape(512, 512, 512, false)),
            Map.entry("sq1024", new Shape(1024, 1024, 1024, false)),
            Map.entry("sq2048", new Shape(2048, 2048, 2048, false)),
            // ResNet-18: conv1 7×7/2 3→64 at 112²; 3×3 convs of layer1..layer4; fc at batch 32.
            Map.entry("r18_conv1", new Shape(64, 112 * 112, 3 * 7 * 7, false)),
            Map.entry("r18_layer1", new Shape(64, 56 * 56, 64 * 9, false)),
            Map.entry("r18_layer2", new Shape(128, 28 * 28, 128 * 9, false)),
            Map.entry("r18_layer3", new Shape(256, 14 * 14, 256 * 9, false)),
            Map.entry("r18_layer4", new Shape(512, 7 * 7, 512 * 9, false)),
            Map.entry("r18_fc_b32", new Shape(32, 1000, 512, true)),
            // MobileNetV2: 1×1 expansion 24→144 at 56², 1×1 projection 960→160 at 7², last 1×1 320→1280 at 7².
            Map.entry("mv2_expand56", new Shape(144, 56 * 56, 24, false)),
            Map.entry("mv2_project7", new Shape(160, 7 * 7, 960, false)),
            Map.entry("mv2_last1x1", new Shape(1280, 7 * 7, 320, false)),
            // The same 1×1 convolutions in both layouts at batch 16 (images side by side, as the
            // convolution does): NCHW is W (K×C) · X (C × positions); channels-last (NHWC) is
            // X (positions × C) · Wᵀ, W stored K×C.
            Map.entry("mv2_expand56_nchw", new Shape(144, 56 * 56, 24, false)),
            Map.entry("mv2_expand56_nhwc", new Shape(56 * 56, 144, 24, true)),
            Map.entry("mv2_project7_nchw", new Shape(160, 16 * 7 * 7, 960, false)),
            Map.entry("mv2_project7_nhwc", new Shape(16 * 7 * 7, 160, 960, true)),
            Map.entry("mv2_last1x1_nchw", new Shape(1280, 16 * 7 * 7, 320, false)),
            Map.entry("mv2_last1x1_nhwc", new Shape(16 * 7 * 7, 1280, 320, true)));

    @Param({"sq256", "sq512", "sq1024", "sq2048",
            "r18_conv1", "r18_layer1", "r18_layer2", "r18_layer3", "r18_layer4", "r18_fc_b32",
            "mv2_expand56", "mv2_project7", "mv2_last1x1",
            "mv2_expand56_nchw", "mv2_expand56_nhwc", "mv2_project7_nchw", "mv2_project7_nhwc", "mv2_last1x1_nchw", "mv2_last1x1_nhwc"})
    public String shape;

    /** Threads for the GEMM; 0 keeps the default (all cores). */
    @Param({"0"})
    public int threads;

    private Shape s;
    private float[] a, b, c;

    @Setup(Level.Trial)
    public void setUp() {
        s = SHAPES.get(shape);
        if (s == null) throw new IllegalArgumentException("unknown shape '" + shape + "'; known: " + SHAPES.keySet());
        if (threads > 0) Parallel.setThreads(threads);
        SplittableRandom rng = new SplittableRandom(42);
        a = random(rng, s.m * s.k);
        b = random(rng, s.k * s.n);
        c = new float[s.m * s.n];
    }

    private static float[] random(SplittableRandom rng, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = (float) (rng.nextDouble() * 2 - 1);
        return x;
    }

    @Benchmark
    public float[] sgemm(Flops flops) {
        int ldb = s.transB ? s.k : s.n;
        Sgemm.sgemm(false, s.transB, s.m, s.n, s.k, 1f, a, 0, s.k, b, 0, ldb, 0f, c, 0, s.n);
        flops.gflops += s.gflop();
        return c;
    }
}
