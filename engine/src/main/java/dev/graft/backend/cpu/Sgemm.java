package dev.graft.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM, row-major: {@code C = alpha · op(A) · op(B) + beta · C [+ bias per row]}
 * (BLAS sgemm semantics; beta = 0 never reads C).
 *
 * <p>GotoBLAS/BLIS structure: op(B) is packed into KC×NC panels, op(A) into MC×KC blocks (both in
 * micro-panel order, transposes resolved during packing, edges padded with zeros), and a register-
 * tiled micro-kernel computes MR×NR tiles with FMA over the whole KC depth, NR along n so that C
 * rows take whole vectors. The kernel parks its accumulators in a small per-thread tile and a
 * separate epilogue applies alpha, beta and the bias: that keeps the kernel compact enough for C2
 * to hold all accumulators in registers.
 *
 * <p>Threads split C into disjoint row or column ranges. Every element of C is computed by the same
 * FMA chain (k in order, KC blocks in order) whatever the partition, so results are bit-identical
 * for any thread count.
 */
public final class Sgemm {
    private Sgemm() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /**
     * Micro-tile: MR rows × NR columns (NV vectors) of C in registers. 4×4 vectors (16 accumulators)
     * suits the 32 registers of AVX-512; with narrower vectors (AVX2 has 16 registers) 6×2.
     */
    static final boolean WIDE = L >= 16;
    static final int MR = WIDE ? 4 : 6, NV = WIDE ? 4 : 2, NR = NV * L;
    /** Cache blocking: an MC×KC block of A stays in L2, a KC×NC panel of B in L3. */
    static final int MC = 96, KC = 256, NC = 4096 / NR * NR;

    /** FIRST[n]: the first n lanes (see {@link #firstLanes}). */
    @SuppressWarnings("unchecked")
    private static final VectorMask<Float>[] FIRST = new VectorMask[L + 1];

    static {
        for (int n = 0; n <= L; n++) FIRST[n] = S.indexInRange(0, n);
    }

    /**
     * The mask of the first n lanes (none for n ≤ 0, all for n ≥ L), from a table: a mask computed
     * from a variable ({@code indexInRange}, {@code VectorMask.fromLong}) is not intrinsified by
     * C2 here and runs the Vector API's Java fallback on every call.
     */
    static VectorMask<Float> firstLanes(int n) {
        return FIRST[Math.max(0, Math.min(L, n))];
    }

    /** Packing one element costs about as much as this many multiply-adds (for the split choice). */
    private static final long PACK_COST = 8;

    /** Below this many multiply-adds one thread does the whole product. */
    private static final long PARALLEL_MIN_WORK = 1L << 17;

    /** Per-thread buffers: packed B panel, packed A block, one C tile. */
    private static final ThreadLocal<float[][]> BUFFERS = ThreadLocal.withInitial(() -> new float[][] {null, null, new float[MR * NR]});

    /**
     * Row-major sgemm. op(A) is m×k (A stored k×m with leading dimension lda when transA), op(B) is
     * k×n (B stored n×k when transB), C is m×n with leading dimension ldc.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, null, 0);
    }

    /**
     * As {@link #sgemm(boolean, boolean, int, int, int, float, float[], int, int, float[], int, int, float, float[], int, int)},
     * then adds {@code rowBias[biasOff + i]} to row i of C when rowBias is not null.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc, float[] rowBias, int biasOff) {
        sgemm(transA, m, n, k, alpha, a, aOff, lda, (p0, kc, j0, nc, bp) -> packB(transB, b, bOff, ldb, p0, kc, j0, nc, bp),
                beta, c, cOff, ldc, rowBias, biasOff);
    }

    /**
     * Supplies op(B) without materialising it (e.g. implicit im2col): writes rows p0 … p0+kc−1 and
     * columns j0 … j0+nc−1 of op(B) into bp as NR-column micro-panels, {@code bp[jr·kc + p·NR + j]}
     * for the panel starting at column jr, with columns past nc in the last panel set to 0.
     * Called concurrently from several threads, each with its own bp.
     */
    @FunctionalInterface
    public interface PanelB {
        void pack(int p0, int kc, int j0, int nc, float[] bp);
    }

    /**
     * A per-row map applied to C once the product is complete (after alpha, beta and the bias):
     * {@code c = min(max((c − mean[off+i])·scale[off+i] + shift[off+i], lo), hi)} for row i, the
     * operations and roundings of a batch-norm forward followed by ReLU/ReLU6 (lo = 0), so a
     * convolution with this epilogue equals the three kernels in sequence bit for bit.
     */
    public record Epilogue(float[] mean, float[] scale, float[] shift, int off, float lo, float hi) {
        Epilogue at(int rowOffset) {
            return new Epilogue(mean, scale, shift, off + rowOffset, lo, hi);
        }
    }

    /**
     * Supplies op(A) without materialising it: writes rows i0 … i0+mc−1 and columns p0 … p0+kc−1 of
     * op(A) into ap as MR-row micro-panels, {@code ap[ir·kc + p·MR + r]} for the panel starting at row
     * ir, rows past mc in the last panel set to 0. Called concurrently, each thread with its own ap.
     */
    @FunctionalInterface
    public interface PanelA {
        void pack(int i0, int mc, int p0, int kc, float[] ap);
    }

    /** The general entry: op(B) (k×n) comes from {@code b} panel by panel; see the array overloads. */
    public static void sgemm(boolean transA, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                             PanelB b, float beta, float[] c, int cOff, int ldc, float[] rowBias, int biasOff) {
        sgemm(transA, m, n, k, alpha, a, aOff, lda, b, beta, c, cOff, ldc, rowBias, biasOff, null);
    }

    /** As the entry above, then {@code post} (may be null) on every row of C. */
    public static void sgemm(boolean transA, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                             PanelB b, float beta, float[] c, int cOff, int ldc, float[] rowBias, int biasOff, Epilogue post) {
        sgemm(m, n, k, alpha, (i0, mc, p0, kc, ap) -> packA(transA, a, aOff, lda, i0, mc, p0, kc, ap), b, beta, c, cOff, ldc,
                rowBias, biasOff, post);
    }

    /** The most general entry: both operands come panel by panel. */
    public static void sgemm(int m, int n, int k, float alpha, PanelA a, PanelB b, float beta, float[] c, int cOff, int ldc,
                             float[] rowBias, int biasOff, Epilogue post) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f) {
            scale(m, n, beta, c, cOff, ldc, rowBias, biasOff);
            if (post != null) for (int i = 0; i < m; i++) applyRow(post, i, c, cOff + i * ldc, n);
            return;
        }
        int threads = Parallel.threads();
        long work = (long) m * n * k;
        if (threads <= 1 || work < PARALLEL_MIN_WORK || !Parallel.canSplit()) {
            serial(0, m, 0, n, k, alpha, a, b, beta, c, cOff, ldc, rowBias, biasOff, post);
            return;
        }
        // Split whichever dimension gives the smallest per-thread cost: multiply-adds over tiles
        // padded to MR/NR, plus packing (each thread packs all of the operand it does not split).
        int mTiles = (m + MR - 1) / MR, nTiles = (n + NR - 1) / NR;
        long mAll = (long) mTiles * MR, nAll = (long) nTiles * NR;
        long mPer = (long) ((mTiles + threads - 1) / threads) * MR, nPer = (long) ((nTiles + threads - 1) / threads) * NR;
        long costM = k * (mPer * nAll + PACK_COST * (nAll + mPer));
        long costN = k * (nPer * mAll + PACK_COST * (mAll + nPer));
        boolean splitM = costM < costN || (costM == costN && m >= n);
        int tiles = splitM ? mTiles : nTiles;
        int chunks = Math.min(threads, tiles);
        int tile = splitM ? MR : NR;
        int extent = splitM ? m : n;
        Parallel.run(chunks, ch -> {
            int s = (int) ((long) tiles * ch / chunks) * tile;
            int e = Math.min(extent, (int) ((long) tiles * (ch + 1) / chunks) * tile);
            if (s >= e) return;
            if (splitM) serial(s, e, 0, n, k, alpha, a, b, beta, c, cOff, ldc, rowBias, biasOff, post);
            else serial(0, m, s, e, k, alpha, a, b, beta, c, cOff, ldc, rowBias, biasOff, post);
        });
    }

    /** C = beta · C (+ bias) over m×n; beta = 0 writes without reading. */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc, float[] bias, int biasOff) {
        for (int i = 0; i < m; i++) {
            int row = cOff + i * ldc;
            if (beta == 0f) java.util.Arrays.fill(c, row, row + n, 0f);
            else if (beta != 1f) for (int j = 0; j < n; j++) c[row + j] *= beta;
            if (bias != null) for (int j = 0; j < n; j++) c[row + j] += bias[biasOff + i];
        }
    }

    /** The rows [m0, m1) × columns [n0, n1) of C on the calling thread. */
    private static void serial(int m0, int m1, int n0, int n1, int k, float alpha, PanelA a, PanelB b,
                               float beta, float[] c, int cOff, int ldc, float[] bias, int biasOff, Epilogue post) {
        float[][] buf = BUFFERS.get();
        int kcMax = Math.min(KC, k);
        int ncMax = roundUp(Math.min(NC, n1 - n0), NR);
        int mcMax = roundUp(Math.min(MC, m1 - m0), MR);
        float[] bp = buf[0], ap = buf[1], tile = buf[2];
        if (bp == null || bp.length < kcMax * ncMax) buf[0] = bp = new float[kcMax * ncMax];
        if (ap == null || ap.length < kcMax * mcMax) buf[1] = ap = new float[kcMax * mcMax];

        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                // Later K blocks accumulate onto C; beta and the bias apply once, with the first.
                float betaBlock = pc == 0 ? beta : 1f;
                float[] biasBlock = pc == 0 ? bias : null;
                Epilogue postBlock = pc + KC >= k ? post : null;   // the epilogue once C is complete
                b.pack(pc, kc, jc, nc, bp);
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    a.pack(ic, mc, pc, kc, ap);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            microKernel(kc, ap, ir * kc, bp, jr * kc, tile, 0);
                            writeTile(tile, c, cOff + (ic + ir) * ldc + jc + jr, ldc, Math.min(MR, mc - ir), nr,
                                    alpha, betaBlock, biasBlock, biasOff + ic + ir, postBlock, ic + ir);
                        }
                    }
                }
            }
        }
    }

    /** The epilogue on row i of C (n elements from c[at]), scalar: the degenerate k = 0 case. */
    private static void applyRow(Epilogue post, int i, float[] c, int at, int n) {
        int pr = post.off() + i;
        for (int j = 0; j < n; j++)
            c[at + j] = Math.min(Math.max((c[at + j] - post.mean()[pr]) * post.scale()[pr] + post.shift()[pr], post.lo()), post.hi());
    }

    private static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }

    /** Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] as MR-row micro-panels: ap[panel·MR·kc + p·MR + r]. */
    static void packA(boolean transA, float[] a, int aOff, int lda, int i0, int mc, int p0, int kc, float[] ap) {
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int base = ir * kc;
            if (!transA) {
                for (int r = 0; r < mr; r++) {
                    int src = aOff + (i0 + ir + r) * lda + p0;
                    for (int p = 0; p < kc; p++) ap[base + p * MR + r] = a[src + p];
                }
            } else {
                for (int p = 0; p < kc; p++) {
                    int src = aOff + (p0 + p) * lda + i0 + ir;
                    int dst = base + p * MR;
                    for (int r = 0; r < mr; r++) ap[dst + r] = a[src + r];
                }
            }
            if (mr < MR) {
                for (int p = 0; p < kc; p++)
                    for (int r = mr; r < MR; r++) ap[base + p * MR + r] = 0f;
            }
        }
    }

    /** Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] as NR-column micro-panels: bp[panel·NR·kc + p·NR + j]. */
    static void packB(boolean transB, float[] b, int bOff, int ldb, int p0, int kc, int j0, int nc, float[] bp) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int base = jr * kc;
            if (!transB) {
                // Row segments of NR floats: vector copies (arraycopy calls cost more at this size).
                for (int p = 0; p < kc; p++) {
                    int src = bOff + (p0 + p) * ldb + j0 + jr;
                    int dst = base + p * NR;
                    for (int v = 0; v < NR; v += L) {
                        if (nr - v >= L) FloatVector.fromArray(S, b, src + v).intoArray(bp, dst + v);
                        else if (src + v + L <= b.length) FloatVector.fromArray(S, b, src + v, firstLanes(nr - v)).intoArray(bp, dst + v);
                        else for (int j = v; j < v + L; j++) bp[dst + j] = j < nr ? b[src + j] : 0f;   // masked past the array's end is slow
                    }
                }
            } else {
                for (int j = 0; j < nr; j++) {
                    int src = bOff + (j0 + jr + j) * ldb + p0;
                    for (int p = 0; p < kc; p++) bp[base + p * NR + j] = b[src + p];
                }
                if (nr < NR) {
                    for (int p = 0; p < kc; p++)
                        for (int j = nr; j < NR; j++) bp[base + p * NR + j] = 0f;
                }
            }
        }
    }

    /**
     * The micro-kernel: the MR×NR product of an A micro-panel ({@code ap[aOff + p·MR + r]}) and a B
     * micro-panel ({@code bp[bOff + p·NR + j]}) over depth kc, stored (not added) as
     * {@code out[outOff + r·NR + j]}.
     */
    static void microKernel(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] out, int outOff) {
        if (WIDE) kernel4x4(kc, ap, aOff, bp, bOff, out, outOff);
        else kernel6x2(kc, ap, aOff, bp, bOff, out, outOff);
    }

    /** The micro-kernel: tile = A micro-panel (4×kc) · B micro-panel (kc×4 vectors), accumulated in registers. */
    private static void kernel4x4(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile, int t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S), c03 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S), c13 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S), c22 = FloatVector.zero(S), c23 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S), c32 = FloatVector.zero(S), c33 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            int bi = bOff + p * NR, ai = aOff + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi + 0 * L);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + 1 * L);
            FloatVector b2 = FloatVector.fromArray(S, bp, bi + 2 * L);
            FloatVector b3 = FloatVector.fromArray(S, bp, bi + 3 * L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ai + 0]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01); c02 = a0.fma(b2, c02); c03 = a0.fma(b3, c03);
            FloatVector a1 = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11); c12 = a1.fma(b2, c12); c13 = a1.fma(b3, c13);
            FloatVector a2 = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21); c22 = a2.fma(b2, c22); c23 = a2.fma(b3, c23);
            FloatVector a3 = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31); c32 = a3.fma(b2, c32); c33 = a3.fma(b3, c33);
        }
        c00.intoArray(tile, t + 0 * NR + 0 * L); c01.intoArray(tile, t + 0 * NR + 1 * L); c02.intoArray(tile, t + 0 * NR + 2 * L); c03.intoArray(tile, t + 0 * NR + 3 * L);
        c10.intoArray(tile, t + 1 * NR + 0 * L); c11.intoArray(tile, t + 1 * NR + 1 * L); c12.intoArray(tile, t + 1 * NR + 2 * L); c13.intoArray(tile, t + 1 * NR + 3 * L);
        c20.intoArray(tile, t + 2 * NR + 0 * L); c21.intoArray(tile, t + 2 * NR + 1 * L); c22.intoArray(tile, t + 2 * NR + 2 * L); c23.intoArray(tile, t + 2 * NR + 3 * L);
        c30.intoArray(tile, t + 3 * NR + 0 * L); c31.intoArray(tile, t + 3 * NR + 1 * L); c32.intoArray(tile, t + 3 * NR + 2 * L); c33.intoArray(tile, t + 3 * NR + 3 * L);
    }

    /** The micro-kernel: tile = A micro-panel (6×kc) · B micro-panel (kc×2 vectors), accumulated in registers. */
    private static void kernel6x2(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile, int t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            int bi = bOff + p * NR, ai = aOff + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi + 0 * L);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + 1 * L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ai + 0]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
        }
        c00.intoArray(tile, t + 0 * NR + 0 * L); c01.intoArray(tile, t + 0 * NR + 1 * L);
        c10.intoArray(tile, t + 1 * NR + 0 * L); c11.intoArray(tile, t + 1 * NR + 1 * L);
        c20.intoArray(tile, t + 2 * NR + 0 * L); c21.intoArray(tile, t + 2 * NR + 1 * L);
        c30.intoArray(tile, t + 3 * NR + 0 * L); c31.intoArray(tile, t + 3 * NR + 1 * L);
        c40.intoArray(tile, t + 4 * NR + 0 * L); c41.intoArray(tile, t + 4 * NR + 1 * L);
        c50.intoArray(tile, t + 5 * NR + 0 * L); c51.intoArray(tile, t + 5 * NR + 1 * L);
    }

    /**
     * Writes rows < mr, columns < nr of a tile: c = alpha·acc + beta·c (c unread when beta = 0),
     * plus bias[row] when bias is not null.
     */
    private static void writeTile(float[] tile, float[] c, int cOff, int ldc, int mr, int nr,
                                  float alpha, float beta, float[] bias, int biasOff, Epilogue post, int row0) {
        for (int r = 0; r < mr; r++) {
            int row = cOff + r * ldc;
            FloatVector bv = bias == null ? null : FloatVector.broadcast(S, bias[biasOff + r]);
            int pr = post == null ? 0 : post.off() + row0 + r;
            float mu = post == null ? 0f : post.mean()[pr], sc = post == null ? 0f : post.scale()[pr], sh = post == null ? 0f : post.shift()[pr];
            for (int col = 0; col < nr; col += L) {
                FloatVector v = FloatVector.fromArray(S, tile, r * NR + col);
                if (alpha != 1f) v = v.mul(alpha);
                if (nr - col >= L) {
                    if (beta == 1f) v = v.add(FloatVector.fromArray(S, c, row + col));
                    else if (beta != 0f) v = v.add(FloatVector.fromArray(S, c, row + col).mul(beta));
                    if (bv != null) v = v.add(bv);
                    if (post != null) v = v.sub(mu).mul(sc).add(sh).max(post.lo()).min(post.hi());
                    v.intoArray(c, row + col);
                } else if (row + col + L <= c.length) {
                    VectorMask<Float> m = firstLanes(nr - col);
                    if (beta == 1f) v = v.add(FloatVector.fromArray(S, c, row + col, m));
                    else if (beta != 0f) v = v.add(FloatVector.fromArray(S, c, row + col, m).mul(beta));
                    if (bv != null) v = v.add(bv);
                    if (post != null) v = v.sub(mu).mul(sc).add(sh).max(post.lo()).min(post.hi());
                    v.intoArray(c, row + col, m);
                } else {
                    // A masked access reaching past the end of c takes the Vector API's slow per-lane
                    // checks; go through the tile's row instead (it has room for a whole vector).
                    int t = r * NR + col, cnt = nr - col;
                    if (beta != 0f) {
                        for (int j = 0; j < L; j++) tile[t + j] = j < cnt ? c[row + col + j] : 0f;
                        FloatVector cv = FloatVector.fromArray(S, tile, t);
                        v = beta == 1f ? v.add(cv) : v.add(cv.mul(beta));
                    }
                    if (bv != null) v = v.add(bv);
                    if (post != null) v = v.sub(mu).mul(sc).add(sh).max(post.lo()).min(post.hi());
                    v.intoArray(tile, t);
                    System.arraycopy(tile, t, c, row + col, cnt);
                }
            }
        }
    }
}
