package dev.graft.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

class CudaProbeTest {
    @Test
    void aLibraryThatDoesNotExistIsReportedNotThrown() {
        try (Arena arena = Arena.ofConfined()) {
            assertThat(CudaProbe.open(List.of("libgraft-no-such-library.so.1"), arena)).isEmpty();
        }
    }

    @Test
    void cudaVersionsAreDecoded() {
        assertThat(CudaProbe.cudaVersion(13000)).isEqualTo("13.0");
        assertThat(CudaProbe.cudaVersion(12060)).isEqualTo("12.6");
    }

    @Test
    void probeReportsEveryLibraryWithAReason() {
        CudaProbe.Report r = CudaProbe.probe();
        assertThat(r.libraries()).extracting(CudaProbe.Library::role).containsExactly("driver", "runtime", "cublas", "cudnn");
        for (CudaProbe.Library l : r.libraries()) {
            assertThat(l.detail()).as(l.role()).isNotBlank();
            if (!l.isLoaded()) assertThat(l.detail()).startsWith("not found (tried ");
        }
        if (!r.driver().isLoaded()) assertThat(r.devices()).isEmpty();
    }

    /** Where a CUDA runtime is installed (nvcc's toolkit has one), the FFM calls into it work without a GPU. */
    @Test
    void runtimeAnswersWhereInstalled() {
        CudaProbe.Library rt = CudaProbe.probe().runtime();
        assumeTrue(rt.isLoaded(), "no libcudart on this machine: " + rt.detail());
        assertThat(rt.version()).matches("1[2-9]\\.\\d+");
        assertThat(rt.detail()).matches("\\d+ device\\(s\\)|cudaGetDeviceCount: error \\d+ \\(.+\\)");
    }
}
