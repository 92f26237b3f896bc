package dev.graft.benchmarks;

import dev.graft.backend.Backend;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.cpu.Parallel;
import dev.graft.ops.Convolution;
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
 * The three convolution passes of training on every convolution type of ResNet-18 and MobileNetV2 at
 * 224×224 (float32, CPU backend): {@code conv2dForward} is {@link Convolution#conv2d} (no autograd
 * recording, output allocation included as in training); {@code conv2dBackwardData} and
 * {@code conv2dBackwardWeight} call the backend's kernels into preallocated outputs.
 *
 * <p>GFLOP/s: the {@code gflops} counter adds 2·MACs / 10⁹ per call ({@link ConvGeometry#macs()}; each
 * backward pass does the same number of multiply-adds as the forward), which JMH reports per second;
 * it equals the primary score (calls/s) × 2·MACs / 10⁹.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks/target/benchmarks.jar Conv2d
 * -p layer=r18_layer1 -p batch=16}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@State(Scope.Thread)
public class Conv2dBenchmark {

    /** Input channels, spatial size (square), output channels, kernel, stride, padding, groups. */
    record Layer(int inC, int size, int outC, int kernel, int stride, int padding, int groups) {}

    static final Map<String, Layer> LAYERS = Map.ofEntries(
            Map.entry("r18_conv1", new Layer(3, 224, 64, 7, 2, 3, 1)),
            Map.entry("r18_layer1", new Layer(64, 56, 64, 3, 1, 1, 1)),
            Map.entry("r18_layer2_down", new Layer(64, 56, 128, 3, 2, 1, 1)),
            Map.entry("r18_layer2", new Layer(128, 28, 128, 3, 1, 1, 1)),
            Map.entry("r18_layer3", new Layer(256, 14, 256, 3, 1, 1, 1)),
            Map.entry("r18_layer4", new Layer(512, 7, 512, 3, 1, 1, 1)),
            Map.entry("r18_layer4_1x1", new Layer(256, 14, 512, 1, 2, 0, 1)),
            // MobileNetV2: the stem, a 1×1 expansion and projection, depthwise stride 1 and 2, the last 1×1.
            Map.entry("mv2_conv1", new Layer(3, 224, 32, 3, 2, 1, 1)),
            Map.entry("mv2_expand56", new Layer(24, 56, 144, 1, 1, 0, 1)),
            Map.entry("mv2_dw56", new Layer(144, 56, 144, 3, 1, 1, 144)),
            Map.entry("mv2_dw56_s2", new Layer(144, 56, 144, 3, 2, 1, 144)),
            Map.entry("mv2_project56", new Layer(144, 56, 24, 1, 1, 0, 1)),
            Map.entry("mv2_dw14", new Layer(384, 14, 384, 3, 1, 1, 384)),
            Map.entry("mv2_last1x1", new Layer(320, 7, 1280, 1, 1, 0, 1)));

    @Param({"r18_conv1", "r18_layer1", "r18_layer2_down", "r18_layer2", "r18_layer3", "r18_layer4", "r18_layer4_1x1",
            "mv2_conv1", "mv2_expand56", "mv2_dw56", "mv2_dw56_s2", "mv2_project56", "mv2_dw14", "mv2_last1x1"})
    public String layer;

    /** Images per call; 16 is the batch of the speed targets. */
    @Param({"16"})
    public int batch;

    /** Threads for the CPU kernels; 0 keeps the default (all cores). */
    @Param({"0"})
    public int threads;

    private Tensor x, weight, bias, dy, dx, dWeight;
    private Layer l;
    private ConvGeometry geometry;
    private Backend backend;
    private double gflopPerCall;

    @Setup(Level.Trial)
    public void setUp() {
        l = LAYERS.get(layer);
        if (l == null) throw new IllegalArgumentException("unknown layer '" + layer + "'; known: " + LAYERS.keySet());
        if (threads > 0) Parallel.setThreads(threads);
        SplittableRandom rng = new SplittableRandom(42);
        x = Tensor.randn(rng, batch, l.inC, l.size, l.size);
        weight = Tensor.randn(rng, l.outC, l.inC / l.groups, l.kernel, l.kernel);
        bias = Tensor.randn(rng, l.outC);
        int[] s = {l.stride, l.stride}, p = {l.padding, l.padding}, d = {1, 1};
        geometry = ConvGeometry.of(x.shape(), weight.shape(), s, p, d, l.groups);
        gflopPerCall = 2.0 * geometry.macs() / 1e9;
        backend = x.backend();
        dy = Tensor.randn(rng, batch, l.outC, geometry.oh(), geometry.ow());
        dx = Tensor.zeros(x.shape());
        dWeight = Tensor.zeros(weight.shape());
    }

    @Benchmark
    public Tensor conv2dForward(Flops flops) {
        Tensor y = Convolution.conv2d(x, weight, bias, l.stride, l.padding, 1, l.groups);
        flops.gflops += gflopPerCall;
        return y;
    }

    @Benchmark
    public Tensor conv2dBackwardData(Flops flops) {
        backend.conv2dBackwardData(geometry, dy, weight, dx);
        flops.gflops += gflopPerCall;
        return dx;
    }

    @Benchmark
    public Tensor conv2dBackwardWeight(Flops flops) {
        backend.conv2dBackwardWeight(geometry, x, dy, dWeight);
        flops.gflops += gflopPerCall;
        return dWeight;
    }
}
