package dev.graft.backend.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * cuBLAS (CUDA 13 or 12) bound through java.lang.foreign, for the CUDA backend's GEMM: one handle on
 * the backend's stream and the few calls a row-major strided-batched SGEMM needs. JCublas is not
 * used: it needs CUDA 12's versioned libcublas and does not load on CUDA 13 (see docs/GPU.md).
 *
 * <p>Signatures and enum values are those of cublas_api.h (CUDA 12/13): {@code CUBLAS_OP_N = 0},
 * {@code CUBLAS_OP_T = 1}, {@code CUBLAS_DEFAULT_MATH = 0} (full FP32 for SGEMM since CUDA 11),
 * {@code CUBLAS_TF32_TENSOR_OP_MATH = 3}; alpha and beta are host pointers (the default pointer mode).
 * One handle is not safe for concurrent use, so calls are synchronized.
 */
final class CuBlas {
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;
    static final int CUBLAS_DEFAULT_MATH = 0;
    static final int CUBLAS_TF32_TENSOR_OP_MATH = 3;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final AddressLayout PTR = ValueLayout.ADDRESS;

    private final String description;
    private final CudaLibraries.Context context;
    private final MemorySegment handle;
    private final MethodHandle setMathMode;
    private final MethodHandle sgemmStridedBatched;
    private final MethodHandle statusName;
    private final MemorySegment alpha = Arena.global().allocate(ValueLayout.JAVA_FLOAT);
    private final MemorySegment beta = Arena.global().allocate(ValueLayout.JAVA_FLOAT);
    private int mathMode = CUBLAS_DEFAULT_MATH;   // a new handle's mode

    private CuBlas(String description, CudaLibraries.Context context, MemorySegment handle, MethodHandle setMathMode,
                   MethodHandle sgemmStridedBatched, MethodHandle statusName) {
        this.description = description;
        this.context = context;
        this.handle = handle;
        this.setMathMode = setMathMode;
        this.sgemmStridedBatched = sgemmStridedBatched;
        this.statusName = statusName;
    }

    /** Loads libcublas, creates a handle and puts it on {@code stream}; the reason in one line if it cannot. */
    static CuBlas open(CudaLibraries.Context context, long stream) throws CudaLibraries.Unavailable {
        CudaProbe.Loaded l = CudaLibraries.open(CudaProbe.CUBLAS, "libcublas");
        try {
            MethodHandle create = l.function("cublasCreate_v2", FunctionDescriptor.of(INT, PTR));
            MethodHandle setStream = l.function("cublasSetStream_v2", FunctionDescriptor.of(INT, PTR, PTR));
            MethodHandle property = l.function("cublasGetProperty", FunctionDescriptor.of(INT, INT, PTR));
            MethodHandle name = l.function("cublasGetStatusName", FunctionDescriptor.of(PTR, INT));
            MethodHandle mode = l.function("cublasSetMathMode", FunctionDescriptor.of(INT, PTR, INT));
            // (handle, transa, transb, m, n, k, alpha*, A, lda, strideA, B, ldb, strideB, beta*, C, ldc, strideC, batchCount)
            MethodHandle sgemm = l.function("cublasSgemmStridedBatched", FunctionDescriptor.of(INT, PTR, INT, INT, INT, INT,
                    INT, PTR, PTR, INT, LONG, PTR, INT, LONG, PTR, PTR, INT, LONG, INT));
            int[] version = new int[2];
            MemorySegment h;
            context.makeCurrent();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(INT);
                for (int p = 0; p < 2; p++) {   // libraryPropertyType MAJOR_VERSION = 0, MINOR_VERSION = 1
                    int s = (int) property.invokeExact(p, out);
                    if (s != 0) throw new CudaLibraries.Unavailable(l.name() + ": cublasGetProperty failed: " + statusName(name, s));
                    version[p] = out.get(INT, 0);
                }
                MemorySegment handleOut = arena.allocate(PTR);
                int s = (int) create.invokeExact(handleOut);
                if (s != 0) throw new CudaLibraries.Unavailable(l.name() + ": cublasCreate_v2 failed: " + statusName(name, s));
                h = handleOut.get(PTR, 0);
            }
            int s = (int) setStream.invokeExact(h, MemorySegment.ofAddress(stream));
            if (s != 0) throw new CudaLibraries.Unavailable(l.name() + ": cublasSetStream_v2 failed: " + statusName(name, s));
            return new CuBlas("cuBLAS " + version[0] + "." + version[1] + " (" + l.name() + ")", context, h, mode, sgemm, name);
        } catch (CudaLibraries.Unavailable e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaLibraries.Unavailable(l.name() + " did not start: " + t);
        }
    }

    /** e.g. "cuBLAS 13.0 (libcublas.so.13)". */
    String description() {
        return description;
    }

    private static String statusName(MethodHandle name, int status) {
        try {
            MemorySegment s = (MemorySegment) name.invokeExact(status);
            return s.address() == 0 ? "status " + status : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "status " + status;
        }
    }

    /**
     * cublasSgemmStridedBatched's arguments for a row-major product. cuBLAS is column-major, and a
     * row-major matrix read column-major is its transpose, so row-major C = op(A)·op(B) is computed
     * as Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLAS's first operand is our B, its second our A, its (m, n) our (n, m).
     * {@code transa}/{@code lda} describe our B, {@code transb}/{@code ldb} our A.
     */
    record ColumnMajor(int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc) {}

    static ColumnMajor columnMajor(boolean transA, boolean transB, int m, int n, int k) {
        // B row-major k×n is column-major n×k = op(B)ᵀ as stored (N, ld n); B stored n×k is (op(B)ᵀ)ᵀ (T, ld k).
        // A row-major m×k is column-major k×m = op(A)ᵀ as stored (N, ld k); A stored k×m needs T, ld m.
        return new ColumnMajor(transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                transB ? k : n, transA ? m : k, n);
    }

    /**
     * Row-major batched C = alpha·op(A)·op(B) + beta·C on the stream (addresses in bytes, strides in
     * elements, stride 0 broadcasts A or B; beta = 0 does not read C). TF32 tensor cores with
     * {@code tf32}, else full FP32.
     */
    synchronized void sgemm(boolean tf32, boolean transA, boolean transB, int batch, int m, int n, int k, float alphaValue,
                            long a, long strideA, long b, long strideB, float betaValue, long c, long strideC) {
        context.makeCurrent();
        int mode = tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
        try {
            if (mode != mathMode) {
                int s = (int) setMathMode.invokeExact(handle, mode);
                check(s, "cublasSetMathMode", m, n, k, batch);
                mathMode = mode;
            }
            ColumnMajor cm = columnMajor(transA, transB, m, n, k);
            alpha.set(ValueLayout.JAVA_FLOAT, 0, alphaValue);
            beta.set(ValueLayout.JAVA_FLOAT, 0, betaValue);
            int s = (int) sgemmStridedBatched.invokeExact(handle, cm.transa(), cm.transb(), cm.m(), cm.n(), cm.k(), alpha,
                    MemorySegment.ofAddress(b), cm.lda(), strideB, MemorySegment.ofAddress(a), cm.ldb(), strideA, beta,
                    MemorySegment.ofAddress(c), cm.ldc(), strideC, batch);
            check(s, "cublasSgemmStridedBatched", m, n, k, batch);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuBLAS call failed: " + t);
        }
    }

    private void check(int status, String call, int m, int n, int k, int batch) {
        if (status != 0)
            throw new CudaException("cuBLAS " + call + " failed: " + statusName(statusName, status) + " (gemm m=" + m + " n=" + n
                    + " k=" + k + " batch=" + batch + ")");
    }
}
