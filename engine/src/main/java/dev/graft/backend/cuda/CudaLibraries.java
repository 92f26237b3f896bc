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

    /** One line per op family saying what runs it, for graft doctor. */
    public java.util.List<String> paths() {
        return java.util.List.of("element-wise, reductions, softmax, batch norm, pooling, optimizers: Graft's kernels", summary);
    }
}
