package dev.graft.backend.cuda;

import dev.graft.backend.Backend;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * Batched row-major GEMM ({@link Backend#gemm}) on the GPU: cuBLAS where it loaded
 * ({@link CuBlas}), else Graft's kernels of {@code gemm.cu}.
 *
 * <p>Precision follows PyTorch: full FP32 by default (exact SIMT kernels, cuBLAS's default math),
 * TF32 tensor cores only with {@code -Dgraft.cuda.tf32.matmul=true} (PyTorch's
 * {@code torch.backends.cuda.matmul.allow_tf32}).
 *
 * <p>Graft's kernels come in four {@link Kernel}s (two tile sizes, FP32 or TF32) for each transpose
 * pair. Products with fewer blocks than the GPU has multiprocessors and a long k are split along k
 * (split-K): each split writes its partial product to a workspace and a second kernel adds them in
 * split order, so results never depend on timing. A product whose C has stride 0 (every batch
 * accumulating into one matrix) runs batch by batch, as the CPU backend computes it.
 */
final class CudaGemm {
    private CudaGemm() {}

    /** System property: TF32 tensor cores for matmul (default false, as PyTorch). */
    static final String TF32_PROPERTY = "graft.cuda.tf32.matmul";

    /** Each split of a split-K product gets at least this much of k. */
    static final int SPLIT_MIN_K = 256;
    static final int MAX_SPLITS = 32;
    /** Split-K workspace bound (floats): splits are reduced to stay under it. */
    static final long MAX_WORKSPACE = 1L << 26;
    /** Most blocks along a grid's z (batch × splits); larger batches are launched in chunks. */
    static final int MAX_GRID_Z = 65535;

    /** The main loops of graft_gemm.h, as the kernels' name parts: {@code gemm_<id>_<nn|nt|tn|tt>_f32}, {@code conv_fwd_<id>_f32}. */
    enum Kernel {
        /** Exact FP32, block tile 128×128, 256 threads of 8×8 outputs. */
        SIMT_128("simt128", 128, 256, false),
        /** Exact FP32, block tile 64×64, 256 threads of 4×4 outputs. */
        SIMT_64("simt64", 64, 256, false),
        /** TF32 mma.m16n8k8, block tile 128×128, 8 warps. */
        TF32_128("tf32_128", 128, 256, true),
        /** TF32 mma.m16n8k8, block tile 64×64, 4 warps. */
        TF32_64("tf32_64", 64, 128, true);

        final String id;
        final int tile;
        final int threads;
        final boolean tf32;

        Kernel(String id, int tile, int threads, boolean tf32) {
            this.id = id;
            this.tile = tile;
            this.threads = threads;
            this.tf32 = tf32;
        }

        /**
         * The large tile when m and n both exceed the small one and the large tiles alone give every
         * multiprocessor a block; else the small tile (less waste at the edges, more blocks).
         */
        static Kernel choose(boolean tf32, long m, long n, long batches, int multiprocessors) {
            long large = ceil(m, 128) * ceil(n, 128) * batches;
            boolean small = m <= 64 || n <= 64 || large < multiprocessors;
            if (tf32) return small ? TF32_64 : TF32_128;
            return small ? SIMT_64 : SIMT_128;
        }

        /** Blocks of one m×n product. */
        long blocks(long m, long n) {
            return ceil(m, tile) * ceil(n, tile);
        }
    }

    static long ceil(long a, long b) {
        return (a + b - 1) / b;
    }

    static boolean tf32Matmul() {
        return Boolean.getBoolean(TF32_PROPERTY);
    }

    /**
     * Splits of k for a product of {@code blocks} blocks (all batches) over a reduction of length k:
     * 1 when the blocks already fill the GPU or k is short, else enough to give each multiprocessor
     * about two blocks, each split at least {@link #SPLIT_MIN_K} long, the workspace
     * ({@code outputs} floats per split) under {@link #MAX_WORKSPACE}.
     */
    static int splits(long blocks, long k, int multiprocessors, long outputs) {
        if (blocks >= multiprocessors || k < 2L * SPLIT_MIN_K) return 1;
        long s = Math.min(ceil(2L * multiprocessors, blocks), k / SPLIT_MIN_K);
        s = Math.min(s, Math.min(MAX_SPLITS, MAX_WORKSPACE / Math.max(1, outputs)));
        return (int) Math.max(1, s);
    }

    static void gemm(CudaBackend b, boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
                     Tensor a, int strideA, Tensor bm, int strideB, double beta, Tensor c, int strideC) {
        run(b, null, tf32Matmul(), true, transA, transB, batch, m, n, k, (float) alpha, b.address(a), strideA,
                b.address(bm), strideB, (float) beta, b.address(c), strideC);
    }

    /** {@link #gemm} on Graft's kernel {@code kernel} whatever libraries loaded (tests pick each kernel). */
    static void gemm(CudaBackend b, Kernel kernel, boolean transA, boolean transB, int batch, int m, int n, int k,
                     double alpha, Tensor a, int strideA, Tensor bm, int strideB, double beta, Tensor c, int strideC) {
        run(b, kernel, kernel.tf32, false, transA, transB, batch, m, n, k, (float) alpha, b.address(a), strideA,
                b.address(bm), strideB, (float) beta, b.address(c), strideC);
    }

    /** Addresses in bytes, strides in elements; {@code kernel} null: chosen by size; {@code libraries}: cuBLAS may take it. */
    private static void run(CudaBackend b, Kernel kernel, boolean tf32, boolean libraries, boolean transA, boolean transB,
                            int batch, int m, int n, int k, float alpha, long a, long strideA, long bm, long strideB,
                            float beta, long c, long strideC) {
        if (batch <= 0 || m <= 0 || n <= 0) return;
        if (strideC == 0 && batch > 1) {   // every product accumulates into the same C: one after the other
            for (int i = 0; i < batch; i++)
                run(b, kernel, tf32, libraries, transA, transB, 1, m, n, k, alpha, a + 4L * i * strideA, 0,
                        bm + 4L * i * strideB, 0, beta, c, 0);
            return;
        }
        if (k <= 0 || alpha == 0f) {   // BLAS: A and B are not read
            if (beta != 1f)
                b.launch1d("gemm_scale_f32", (long) batch * m * n,
                        KernelArgs.of().ptr(c).i64(strideC).i32(batch).i64((long) m * n).f32(beta));
            return;
        }
        CuBlas blas = libraries ? b.libraries().cublas() : null;
        if (blas != null) {
            blas.sgemm(tf32, transA, transB, batch, m, n, k, alpha, a, strideA, bm, strideB, beta, c, strideC);
            return;
        }
        int sms = b.gpu().multiprocessors();
        Kernel kern = kernel != null ? kernel : Kernel.choose(tf32, m, n, batch, sms);
        long blocks = kern.blocks(m, n);
        int splits = splits(blocks * batch, k, sms, (long) batch * m * n);
        int perLaunch = MAX_GRID_Z / splits;
        String name = "gemm_" + kern.id + "_" + (transA ? "t" : "n") + (transB ? "t" : "n") + "_f32";
        Storage ws = splits > 1 ? b.allocateUninitialized(Math.toIntExact((long) Math.min(batch, perLaunch) * splits * m * n)) : null;
        try {
            long wsAddress = ws == null ? 0 : b.address(ws);
            for (int b0 = 0; b0 < batch; b0 += perLaunch) {
                int count = Math.min(perLaunch, batch - b0);
                long cb = c + 4L * b0 * strideC;
                KernelArgs args = KernelArgs.of().ptr(a + 4L * b0 * strideA).ptr(bm + 4L * b0 * strideB).ptr(cb).ptr(wsAddress)
                        .i64(strideA).i64(strideB).i64(strideC).i32(m).i32(n).i32(k).i32(splits).f32(alpha).f32(beta);
                launch(b, kern, name, blocks, count * splits, args);
                if (splits > 1)
                    reduceSplits(b, wsAddress, cb, strideC, count, m, n, splits, alpha, beta);
            }
        } finally {
            if (ws != null) b.release(ws);
        }
    }

    /** Launches a tiled kernel of {@code kernel}: x = the product's blocks, z as given. */
    static void launch(CudaBackend b, Kernel kernel, String name, long blocks, int z, KernelArgs args) {
        if (blocks > Integer.MAX_VALUE)
            throw new CudaException(name + ": " + blocks + " blocks of " + kernel.tile + "x" + kernel.tile + " exceed one grid");
        b.launch(name, (int) blocks, 1, z, kernel.threads, 1, 1, 0, args);
    }

    /** C_b = alpha · Σ_s ws[b][s] + beta · C_b over a split-K workspace (batch, splits, m, n), splits added in order. */
    static void reduceSplits(CudaBackend b, long ws, long c, long strideC, int batch, int m, int n, int splits,
                             float alpha, float beta) {
        b.launch1d("gemm_splitk_reduce_f32", (long) batch * m * n, KernelArgs.of().ptr(ws).ptr(c).i64(strideC)
                .i32(batch).i32(m).i32(n).i32(splits).f32(alpha).f32(beta));
    }
}
