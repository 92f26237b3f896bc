package dev.graft.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Which library serves GEMM and convolution on a GPU: cuBLAS ({@link CuBlas}) and cuDNN
 * ({@link CuDnn}), bound through java.lang.foreign, where they load and create a handle on the
 * backend's stream; Graft's own kernels otherwise, with the reason recorded for {@code graft doctor}.
 * {@code -Dgraft.cuda.cublas=false} / {@code -Dgraft.cuda.cudnn=false} keep Graft's kernels (to
 * compare them with the libraries).
 */
public final class CudaLibraries {
    static final String CUBLAS_PROPERTY = "graft.cuda.cublas";
    static final String CUDNN_PROPERTY = "graft.cuda.cudnn";

    private final CuBlas cublas;
    private final CuDnn cudnn;
    private final String summary;

    private CudaLibraries(CuBlas cublas, CuDnn cudnn, String summary) {
        this.cublas = cublas;
        this.cudnn = cudnn;
        this.summary = summary;
    }

    /** Graft's kernels for both, because of {@code why}. */
    static CudaLibraries none(String why) {
        return new CudaLibraries(null, null, "gemm, conv: Graft's kernels (" + why + ")");
    }

    /**
     * Opens cuBLAS and cuDNN for {@code gpu}, on its stream. Called right after the GPU was opened,
     * on the thread where its context is current. Never throws: a library that does not load or
     * start is replaced by Graft's kernels.
     */
    static CudaLibraries load(JCudaGpu gpu) {
        Context context;
        try {
            context = Context.capture();
        } catch (Unavailable | RuntimeException | LinkageError e) {
            return none("no CUDA context for the libraries: " + e.getMessage());
        }
        long stream = gpu.streamHandle();
        CuBlas blas = null;
        String gemm;
        if (!enabled(CUBLAS_PROPERTY)) {
            gemm = "Graft's kernels (cuBLAS off: -D" + CUBLAS_PROPERTY + "=false)";
        } else {
            try {
                blas = CuBlas.open(context, stream);
                gemm = blas.description();
            } catch (Unavailable | RuntimeException | LinkageError e) {
                gemm = "Graft's kernels (" + e.getMessage() + ")";
            }
        }
        CuDnn dnn = null;
        String conv;
        if (!enabled(CUDNN_PROPERTY)) {
            conv = "Graft's kernels (cuDNN off: -D" + CUDNN_PROPERTY + "=false)";
        } else {
            try {
                dnn = CuDnn.open(context, stream);
                conv = dnn.description();
            } catch (Unavailable | RuntimeException | LinkageError e) {
                conv = "Graft's kernels (" + e.getMessage() + ")";
            }
        }
        return new CudaLibraries(blas, dnn, "gemm: " + gemm + "; conv: " + conv);
    }

    /** The first of {@code sonames} that loads, or Unavailable("{what} not found (tried ...)"). */
    static CudaProbe.Loaded open(java.util.List<String> sonames, String what) throws Unavailable {
        return CudaProbe.open(sonames, Arena.global())
                .orElseThrow(() -> new Unavailable(what + " not found (tried " + String.join(", ", sonames) + ")"));
    }

    private static boolean enabled(String property) {
        return Boolean.parseBoolean(System.getProperty(property, "true"));
    }

    /** cuBLAS, or null when GEMMs run on Graft's kernels. */
    CuBlas cublas() {
        return cublas;
    }

    /** cuDNN, or null when convolutions run on Graft's kernels. */
    CuDnn cudnn() {
        return cudnn;
    }

    /** One line, e.g. "gemm: cuBLAS 13.0 (libcublas.so.13); conv: cuDNN 9.10.2 (libcudnn.so.9)". */
    public String summary() {
        return summary;
    }

    /**
     * What runs each family of ops, one line each, for {@code graft doctor}: Graft's kernels for
     * everything but GEMM and convolution, then the GEMM and convolution paths of {@link #summary()}.
     */
    public java.util.List<String> paths() {
        java.util.List<String> lines = new java.util.ArrayList<>();
        lines.add("element-wise, reductions, softmax, batch norm, pooling, depthwise conv, optimizers: Graft's kernels");
        lines.addAll(java.util.Arrays.asList(summary.split("; ")));
        return lines;
    }

    @Override
    public String toString() {
        return summary;
    }

    /** A library that cannot be used, with the one-line reason. */
    static final class Unavailable extends Exception {
        Unavailable(String message) {
            super(message);
        }
    }

    /**
     * The CUDA context the GPU's driver made current when it opened, made current again on any
     * thread that calls a library: cuBLAS and cuDNN use the runtime API, which works in the
     * context current on the calling thread.
     */
    static final class Context {
        private final MethodHandle setCurrent;
        private final MemorySegment context;
        private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);

        private Context(MethodHandle setCurrent, MemorySegment context) {
            this.setCurrent = setCurrent;
            this.context = context;
            current.set(true);
        }

        /** The context current on this thread (cuCtxGetCurrent). */
        static Context capture() throws Unavailable {
            CudaProbe.Loaded driver = CudaProbe.open(CudaProbe.DRIVER, Arena.global())
                    .orElseThrow(() -> new Unavailable("no NVIDIA driver (" + String.join(", ", CudaProbe.DRIVER) + ")"));
            MethodHandle get = driver.function("cuCtxGetCurrent", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            MethodHandle set = driver.function("cuCtxSetCurrent", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                int status = (int) get.invokeExact(out);
                MemorySegment ctx = out.get(ValueLayout.ADDRESS, 0);
                if (status != 0) throw new Unavailable("cuCtxGetCurrent failed with CUDA error " + status);
                if (ctx.address() == 0) throw new Unavailable("no CUDA context is current on the thread that opened the GPU");
                return new Context(set, ctx);
            } catch (Unavailable e) {
                throw e;
            } catch (Throwable t) {
                throw new Unavailable("cuCtxGetCurrent failed: " + t);
            }
        }

        /** Makes the GPU's context current on this thread (once per thread). */
        void makeCurrent() {
            if (current.get()) return;
            int status;
            try {
                status = (int) setCurrent.invokeExact(context);
            } catch (Throwable t) {
                throw new CudaException("cuCtxSetCurrent failed: " + t);
            }
            if (status != 0) throw new CudaException("cuCtxSetCurrent failed with CUDA error " + status);
            current.set(true);
        }
    }
}
