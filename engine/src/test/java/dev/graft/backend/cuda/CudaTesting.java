package dev.graft.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.graft.backend.cpu.CpuBackend;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * The CUDA backends a test runs on, and helpers to compare them with the CPU backend.
 *
 * <p>{@link #backends()} is the emulated backend (Graft's kernels compiled for the CPU; required in
 * CI, where its absence fails) plus {@code cuda:0} when this machine has an NVIDIA driver and a GPU.
 * Tests that need a real GPU call {@link #assumeGpu()}, which skips them with a visible message where
 * there is none. {@code -Dgraft.cuda.test.emulation=false} leaves the emulation out (the GPU machine's
 * check, where time is short).
 */
final class CudaTesting {
    private CudaTesting() {}

    static final CpuBackend CPU = CpuBackend.instance();

    /** The emulated backend, and the real GPU 0 where there is one. */
    static Stream<CudaBackend> backends() {
        List<CudaBackend> list = new ArrayList<>();
        boolean emulation = !"false".equals(System.getProperty("graft.cuda.test.emulation"));  // the GPU check turns it off
        if (!emulation) {
            // only the real GPU
        } else if (CudaBackend.emulationAvailable()) {
            list.add(CudaBackend.emulated());
        } else if ("true".equals(System.getenv("CI"))) {
            fail("CI: graft-kernels was built without the CUDA kernel emulation (no C++ compiler?)");
        }
        if (gpuPresent()) list.add(CudaBackend.forDevice(0));
        Assumptions.assumeFalse(list.isEmpty(), emulation ? "no GPU and no kernel emulation in this build: CUDA backend not tested"
                : "no GPU (and the emulation left out by -Dgraft.cuda.test.emulation=false): CUDA backend not tested");
        return list.stream();
    }

    static boolean gpuPresent() {
        return !CudaBackend.emulationRequested() && !CudaProbe.probe().devices().isEmpty();
    }

    static void assumeGpu() {
        Assumptions.assumeTrue(gpuPresent(), "no NVIDIA GPU on this machine (graft doctor says why): real-GPU check skipped;"
                + " the same kernels ran on the emulation");
    }

    /** Random normal values on the CPU backend. */
    static Tensor randn(Random rng, int... shape) {
        Tensor t = Tensor.zeros(CPU, shape);
        float[] v = new float[t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextGaussian();
        return Tensor.of(v, shape);
    }

    static Tensor uniform(Random rng, float lo, float hi, int... shape) {
        float[] v = new float[dev.graft.tensor.Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * rng.nextFloat();
        return Tensor.of(v, shape);
    }

    /** The values of {@code t} (any backend) as floats. */
    static float[] values(Tensor t) {
        return t.toFloatArray();
    }

    /**
     * Asserts |actual − expected| ≤ tol · max(1, max|expected|) element-wise, naming the first
     * difference. NaN must match NaN.
     */
    static void assertClose(String what, Tensor actual, Tensor expected, double tol) {
        float[] a = values(actual), e = values(expected);
        assertThat(a.length).as(what + ": element count").isEqualTo(e.length);
        double scale = 1;
        for (float v : e) if (Float.isFinite(v)) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(e[i]) && Float.isNaN(a[i])) continue;
            if (Float.isInfinite(e[i]) && a[i] == e[i]) continue;
            if (!(Math.abs(a[i] - e[i]) <= tol * scale))
                fail(what + ": element " + i + " is " + a[i] + ", expected " + e[i] + " (tolerance " + tol * scale + ")");
        }
    }
}
