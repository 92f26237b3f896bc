package dev.graft.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class PtxResourcesTest {
    @Test
    void everyBuiltKernelHasPtxForEveryArchitecture() {
        // Without nvcc the build skips PTX and there is nothing to check.
        PtxResources.build().ifPresent(build -> {
            assertThat(build.kernels()).contains("elementwise");
            assertThat(build.archs()).isNotEmpty();
            for (String kernel : build.kernels()) {
                for (int arch : build.archs()) {
                    String ptx = new String(PtxResources.ptx(kernel, arch).orElseThrow(
                            () -> new AssertionError("no PTX for " + kernel + " sm_" + arch)), StandardCharsets.US_ASCII);
                    assertThat(ptx).as(kernel + ".sm_" + arch).contains(".target sm_" + arch);
                    if (build.cubins()) {
                        byte[] cubin = PtxResources.cubin(kernel, arch).orElseThrow(
                                () -> new AssertionError("no cubin for " + kernel + " sm_" + arch));
                        assertThat(java.util.Arrays.copyOf(cubin, 4)).as("ELF magic").containsExactly(0x7f, 'E', 'L', 'F');
                    }
                }
            }
            String elementwise = new String(PtxResources.ptx("elementwise", build.archs().getFirst()).orElseThrow(), StandardCharsets.US_ASCII);
            assertThat(elementwise).contains(".entry unary_forward_f32", ".entry unary_backward_f32", ".entry copy_strided_f32");
        });
    }

    @Test
    void picksTheHighestArchitectureNotAboveTheDevice() {
        List<Integer> built = List.of(80, 90);
        assertThat(PtxResources.bestArch(built, 86)).contains(80);
        assertThat(PtxResources.bestArch(built, 90)).contains(90);
        assertThat(PtxResources.bestArch(built, 120)).contains(90);
        assertThat(PtxResources.bestArch(built, 75)).isEmpty();
        assertThat(PtxResources.cubinArch(built, 90)).contains(90);
        assertThat(PtxResources.cubinArch(built, 86)).contains(80);
        assertThat(PtxResources.cubinArch(built, 100)).isEmpty();  // Blackwell: JIT the sm_90 PTX
        assertThat(PtxResources.cubinArch(built, 75)).isEmpty();
    }

    @Test
    void missingPtxIsEmpty() {
        assertThat(PtxResources.ptx("no-such-kernel", 80)).isEmpty();
    }
}
