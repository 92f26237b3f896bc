package dev.graft.backend.cuda;

/**
 * PLACEHOLDER: cuBLAS and cuDNN, bound through java.lang.foreign where they load (being written).
 */
public final class CudaLibraries {
    private final String summary;

    private CudaLibraries(String summary) {
        this.summary = summary;
    }

    static CudaLibraries none(String why) {
        return new CudaLibraries(why);
    }

    static CudaLibraries load(JCudaGpu gpu) {
        return new CudaLibraries("Graft's kernels (cuBLAS/cuDNN bindings not written yet)");
    }

    public String summary() {
        return summary;
    }
}
