package dev.graft.backend.cpu;

import dev.graft.backend.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin &amp; Gray, 2016):
 * each 2×2 output tile is {@code Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A} of a 4×4 input tile d, so a
 * convolution becomes 16 independent products {@code M_ξ = U_ξ · V_ξ} (U: outC × inC transformed
 * weights, V: inC × tiles transformed input) with 16 multiply-adds per tile and channel pair instead
 * of 36: 2.25× fewer.
 *
 * <p>Fused, block by block: a block of {@link #NB} tiles (one B micro-panel of {@link Sgemm}) is
 * transformed into 16 packed panels that stay in cache, multiplied by {@link Sgemm#microKernel} with
 * the pre-packed U, and transformed back into the output a slice of {@link #KB} output channels at
 * a time; no tensor-sized intermediate exists. Blocks are independent, so threads take whole blocks
 * and the result does not depend on the thread count.
 *
 * <p>The data gradient of a stride-1 convolution with padding p is the same convolution of dy with
 * the weights flipped and their channel axes swapped, padding 2 − p, so it runs through the same
 * path. Rounding differs from the direct (im2col) convolution by a few ulps of the tile sums; the
 * parity tests hold both against the reference backend. {@code -Dgraft.cpu.winograd=false} turns
 * the path off.
 */
final class CpuWinograd {
    private CpuWinograd() {}

    static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty("graft.cpu.winograd", "true"));

    private static final VectorSpecies<Float> S = Sgemm.S;
    private static final int L = Sgemm.L, MR = Sgemm.MR, NR = Sgemm.NR;
    /** Tiles per block: one micro-panel of columns. */
    private static final int NB = NR;
    /** Tiles per block of the weight gradient: the depth of its per-ξ products. */
    private static final int NBW = Sgemm.KC;
    /** Output channels transformed back per pass over a block (a multiple of MR). */
    private static final int KB = (64 + MR - 1) / MR * MR;
    /** Fewer channels than this on either side leave too little depth for the 16 small products. */
    private static final int MIN_CHANNELS = 16;

    private static final VectorMask<Float> EVEN = VectorMask.fromLong(S, 0x5555_5555_5555_5555L);
    private static final VectorMask<Float> ODD = VectorMask.fromLong(S, 0xAAAA_AAAA_AAAA_AAAAL);
    /** Interleaving two vectors a, b: lanes a0 b0 a1 b1 … (ZIP_LO) and the upper halves (ZIP_HI). */
    private static final VectorShuffle<Float> ZIP_LO = VectorShuffle.fromOp(S, i -> (i & 1) == 0 ? i / 2 : i / 2 - L);
    private static final VectorShuffle<Float> ZIP_HI = VectorShuffle.fromOp(S, i -> (i & 1) == 0 ? L / 2 + i / 2 : L / 2 + i / 2 - L);

    /** Per-thread scratch: 0 transformed input V, 1 products M, 2 de-interleaved input rows, 3 padded row. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[4][]);
    /** The caller's transformed weights (read by every worker during one call). */
    private static final ThreadLocal<float[][]> WEIGHTS = ThreadLocal.withInitial(() -> new float[1][]);

    private static float[] scratch(float[][] s, int slot, int size) {
        if (s[slot] == null || s[slot].length < size) s[slot] = new float[size];
        return s[slot];
    }

    /** Whether the forward pass (and hence the data gradient) of g takes this path. */
    static boolean applies(ConvGeometry g) {
        return ENABLED && g.groups() == 1 && g.kh() == 3 && g.kw() == 3 && g.strideH() == 1 && g.strideW() == 1
                && g.dilationH() == 1 && g.dilationW() == 1 && g.padH() <= 2 && g.padW() <= 2
                && g.inC() >= MIN_CHANNELS && g.outC() >= MIN_CHANNELS && g.oh() >= 2 && g.ow() >= 2;
    }

    /** y = conv(x, w) + bias, then {@code post} (may be null) per output channel. */
    static void forward(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo,
                        Sgemm.Epilogue post) {
        float[] u = transformWeights(w, wo, g.outC(), g.inC(), false);
        run(g.n(), g.inC(), g.h(), g.w(), g.outC(), g.oh(), g.ow(), g.padH(), g.padW(), x, xo, u, bias, bo, post, y, yo);
    }

    /** dx = the data gradient of conv(x, w) for dy: a convolution of dy with the flipped, transposed w. */
    static void backwardData(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        float[] u = transformWeights(w, wo, g.inC(), g.outC(), true);
        run(g.n(), g.outC(), g.oh(), g.ow(), g.inC(), g.h(), g.w(), 2 - g.padH(), 2 - g.padW(), dy, dyo, u, null, 0, null, dx, dxo);
    }

    /**
     * dw = the weight gradient of conv(x, w) for dy (overwritten): {@code dU_ξ = Σ_tiles (A dY Aᵀ)_ξ ·
     * (Bᵀ d B)_ξᵀ}, one GEMM per ξ and block of {@link #NBW} tiles, then {@code dW = Gᵀ dU G}. Threads
     * take disjoint sets of ξ and go through all blocks in order, so every ξ sums its blocks in the
     * same order whatever the thread count.
     */
    static void backwardWeight(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo) {
        Shape sh = new Shape(g.n(), g.inC(), g.h(), g.w(), g.outC(), g.oh(), g.ow(), g.padH(), g.padW(), NBW);
        int c = sh.c, k = sh.k, perImage = sh.th * sh.tw;
        float[] du = scratch(WEIGHTS.get(), 0, 16 * k * c);
        int chunks = Parallel.canSplit() ? Math.min(Parallel.threads(), 16) : 1;
        Parallel.run(chunks, ch -> {
            int x0 = 16 * ch / chunks, x1 = 16 * (ch + 1) / chunks, nx = x1 - x0;
            float[][] s = SCRATCH.get();
            float[] v = scratch(s, 0, nx * c * NBW + L);
            float[] m = scratch(s, 1, nx * k * NBW + L);
            float[] eo = scratch(s, 2, 8 * sh.rowStride);
            float[] row = scratch(s, 3, sh.rowStride * 2 + 2 * L);
            for (int t0 = 0; t0 < sh.tiles; t0 += NBW) {
                int nbt = Math.min(NBW, sh.tiles - t0);
                for (int t = t0; t < t0 + nbt; ) {
                    int img = t / perImage, rem = t % perImage, ti = rem / sh.tw, tj = rem % sh.tw;
                    int len = Math.min(sh.tw - tj, t0 + nbt - t), col = t - t0;
                    for (int ci = 0; ci < c; ci++)
                        transformInput(sh, x, xo + (img * c + ci) * sh.h * sh.w, ti, tj, len, v, ci * NBW + col, c * NBW, x0, x1, eo, row);
                    for (int ki = 0; ki < k; ki++)
                        transformGrad(sh, dy, dyo + (img * k + ki) * sh.oh * sh.ow, ti, tj, len, m, ki * NBW + col, k * NBW, x0, x1, eo, row);
                    t += len;
                }
                for (int xi = x0; xi < x1; xi++)
                    Sgemm.sgemm(false, true, k, c, nbt, 1f, m, (xi - x0) * k * NBW, NBW, v, (xi - x0) * c * NBW, NBW,
                            t0 == 0 ? 0f : 1f, du, xi * k * c, c);
            }
        });
        int plane = k * c;
        Parallel.forRange(0, plane, 1024, (p0, p1) -> {
            double[] t = new double[12];
            for (int p = p0; p < p1; p++) {
                // X = Gᵀ dU (3×4), then dW = X G (3×3), in double, rounded once.
                for (int b = 0; b < 4; b++) {
                    double u0 = du[p + b * plane], u1 = du[p + (4 + b) * plane], u2 = du[p + (8 + b) * plane], u3 = du[p + (12 + b) * plane];
                    t[b] = u0 + 0.5 * (u1 + u2);
                    t[4 + b] = 0.5 * (u1 - u2);
                    t[8 + b] = 0.5 * (u1 + u2) + u3;
                }
                int out = dwo + p * 9;
                for (int i = 0; i < 3; i++) {
                    double t0 = t[4 * i], t1 = t[4 * i + 1], t2 = t[4 * i + 2], t3 = t[4 * i + 3];
                    dw[out + 3 * i] = (float) (t0 + 0.5 * (t1 + t2));
                    dw[out + 3 * i + 1] = (float) (0.5 * (t1 - t2));
                    dw[out + 3 * i + 2] = (float) (0.5 * (t1 + t2) + t3);
                }
            }
        });
    }

    // ---------------------------------------------------------------- weights

    /**
     * U_ξ = G g Gᵀ for every (k, c) filter g, packed as Sgemm A micro-panels per ξ:
     * {@code u[(ξ·kPad + kr)·c + ci·MR + r]} holds U_ξ[kr + r][ci]. {@code flipped}: g of (k, c) is
     * w[c][k] rotated by 180° (the data gradient), w being (c, k, 3, 3); otherwise w is (k, c, 3, 3).
     */
    private static float[] transformWeights(float[] w, int wo, int kOut, int cIn, boolean flipped) {
        int kPad = (kOut + MR - 1) / MR * MR;
        float[][] slot = WEIGHTS.get();
        float[] u = scratch(slot, 0, 16 * kPad * cIn);
        Parallel.forRange(0, kPad / MR, Math.max(1, 4096 / Math.max(1, cIn)), (p0, p1) -> {
            double[] t = new double[12];
            for (int kr = p0 * MR; kr < p1 * MR; kr += MR) {
                for (int r = 0; r < MR; r++) {
                    int k = kr + r;
                    for (int c = 0; c < cIn; c++) {
                        int at = kr * cIn + c * MR + r;
                        if (k >= kOut) {
                            for (int xi = 0; xi < 16; xi++) u[xi * kPad * cIn + at] = 0f;
                            continue;
                        }
                        int src = flipped ? wo + (c * kOut + k) * 9 : wo + (k * cIn + c) * 9;
                        // t = G g (4×3); then U = t Gᵀ (4×4), in double, rounded once.
                        for (int j = 0; j < 3; j++) {
                            double g0 = tap(w, src, 0, j, flipped), g1 = tap(w, src, 1, j, flipped), g2 = tap(w, src, 2, j, flipped);
                            t[j] = g0;
                            t[3 + j] = (g0 + g1 + g2) * 0.5;
                            t[6 + j] = (g0 - g1 + g2) * 0.5;
                            t[9 + j] = g2;
                        }
                        for (int a = 0; a < 4; a++) {
                            double t0 = t[3 * a], t1 = t[3 * a + 1], t2 = t[3 * a + 2];
                            int base = (a * 4) * kPad * cIn + at;
                            u[base] = (float) t0;
                            u[base + kPad * cIn] = (float) ((t0 + t1 + t2) * 0.5);
                            u[base + 2 * kPad * cIn] = (float) ((t0 - t1 + t2) * 0.5);
                            u[base + 3 * kPad * cIn] = (float) t2;
                        }
                    }
                }
            }
        });
        return u;
    }

    private static double tap(float[] w, int src, int i, int j, boolean flipped) {
        return flipped ? w[src + (2 - i) * 3 + (2 - j)] : w[src + i * 3 + j];
    }

    // ---------------------------------------------------------------- the convolution

    /**
     * y (n, kOut, oh, ow) = conv3×3(x (n, cIn, h, w), padding padH/padW) with transformed weights u,
     * plus bias (may be null), then post (may be null).
     */
    private static void run(int n, int cIn, int h, int w, int kOut, int oh, int ow, int padH, int padW,
                            float[] x, int xo, float[] u, float[] bias, int bo, Sgemm.Epilogue post, float[] y, int yo) {
        Shape sh = new Shape(n, cIn, h, w, kOut, oh, ow, padH, padW, NB);
        int blocks = (sh.tiles + NB - 1) / NB;
        int chunks = Math.min(Parallel.threads(), blocks);
        Parallel.run(chunks, ch -> {
            int b0 = (int) ((long) blocks * ch / chunks), b1 = (int) ((long) blocks * (ch + 1) / chunks);
            float[][] s = SCRATCH.get();
            float[] v = scratch(s, 0, 16 * cIn * NR + L);
            float[] m = scratch(s, 1, 16 * KB * NR + L);
            float[] eo = scratch(s, 2, 8 * sh.rowStride);
            float[] row = scratch(s, 3, sh.rowStride * 2 + 2 * L);
            for (int b = b0; b < b1; b++) {
                int t0 = b * NB, nbt = Math.min(NB, sh.tiles - t0);
                block(sh, t0, nbt, x, xo, u, bias, bo, post, y, yo, v, m, eo, row);
            }
        });
    }

    /** The problem's sizes and derived tile counts. */
    private record Shape(int n, int c, int h, int w, int k, int oh, int ow, int padH, int padW,
                         int th, int tw, int tiles, int kPad, int rowStride) {
        /** blockTiles: the most tiles of one block (a run of tiles within a tile row is no longer). */
        Shape(int n, int c, int h, int w, int k, int oh, int ow, int padH, int padW, int blockTiles) {
            this(n, c, h, w, k, oh, ow, padH, padW, (oh + 1) / 2, (ow + 1) / 2, n * ((oh + 1) / 2) * ((ow + 1) / 2),
                    (k + MR - 1) / MR * MR, (Math.min(blockTiles, (ow + 1) / 2) + 1 + 2 * L + L - 1) / L * L);
        }
    }

    private static void block(Shape sh, int t0, int nbt, float[] x, int xo, float[] u, float[] bias, int bo,
                              Sgemm.Epilogue post, float[] y, int yo, float[] v, float[] m, float[] eo, float[] row) {
        int perImage = sh.th * sh.tw;
        // Input: every run of tiles within one tile row, all channels.
        for (int t = t0; t < t0 + nbt; ) {
            int img = t / perImage, rem = t % perImage, ti = rem / sh.tw, tj = rem % sh.tw;
            int len = Math.min(sh.tw - tj, t0 + nbt - t);
            for (int c = 0; c < sh.c; c++)
                transformInput(sh, x, xo + (img * sh.c + c) * sh.h * sh.w, ti, tj, len, v, c * NR + (t - t0), sh.c * NR, 0, 16, eo, row);
            t += len;
        }
        int panel = sh.c * NR;
        for (int kb = 0; kb < sh.k; kb += KB) {
            int kc = Math.min(KB, sh.kPad - kb);
            for (int xi = 0; xi < 16; xi++)
                for (int ir = 0; ir < kc; ir += MR)
                    Sgemm.microKernel(sh.c, u, (xi * sh.kPad + kb + ir) * sh.c, v, xi * panel, m, (xi * KB + ir) * NR);
            int kEnd = Math.min(sh.k, kb + KB);
            for (int t = t0; t < t0 + nbt; ) {
                int img = t / perImage, rem = t % perImage, ti = rem / sh.tw, tj = rem % sh.tw;
                int len = Math.min(sh.tw - tj, t0 + nbt - t);
                for (int k = kb; k < kEnd; k++)
                    transformOutput(sh, m, (k - kb) * NR + (t - t0), len, y, yo + (img * sh.k + k) * sh.oh * sh.ow, ti, tj,
                            bias == null ? 0f : bias[bo + k], post, k);
                t += len;
            }
        }
    }

    /**
     * Bᵀ d B for tiles (ti, tj … tj+len−1) of one channel plane: value ξ of tile j goes to
     * {@code v[(ξ − x0)·planeStride + at + j]}, for ξ in [x0, x1) only. The four input rows are first
     * split into even and odd columns (zero-padded), so every tile's four columns are E[j], O[j],
     * E[j+1], O[j+1]: plain vector loads.
     */
    private static void transformInput(Shape sh, float[] x, int plane, int ti, int tj, int len, float[] v, int at,
                                       int planeStride, int x0, int x1, float[] eo, float[] row) {
        int rs = sh.rowStride;
        for (int r = 0; r < 4; r++)
            split(x, plane, sh.h, sh.w, 2 * ti - sh.padH + r, 2 * tj - sh.padW, 2 * len + 2, eo, 2 * r * rs, rs, row);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> mask = S.indexInRange(j, len);
            // Row a of Bᵀ d (d0 − d2, d1 + d2, d2 − d1, d1 − d3) for the tile columns E[j], O[j],
            // E[j+1], O[j+1], then · B along the columns: the 4 transformed values of row a.
            for (int a = x0 / 4; a <= (x1 - 1) / 4; a++) {
                int p = (a == 0 ? 0 : a == 2 ? 2 : 1) * 2 * rs, q = (a == 0 ? 2 : a == 2 ? 1 : a == 1 ? 2 : 3) * 2 * rs;
                boolean add = a == 1;
                FloatVector c0 = vertical(eo, j + p, j + q, add), c1 = vertical(eo, rs + j + p, rs + j + q, add);
                FloatVector c2 = vertical(eo, j + 1 + p, j + 1 + q, add), c3 = vertical(eo, rs + j + 1 + p, rs + j + 1 + q, add);
                int xi = 4 * a, base = at + j;
                put(c0.sub(c2), v, xi, x0, x1, planeStride, base, mask);
                put(c1.add(c2), v, xi + 1, x0, x1, planeStride, base, mask);
                put(c2.sub(c1), v, xi + 2, x0, x1, planeStride, base, mask);
                put(c1.sub(c3), v, xi + 3, x0, x1, planeStride, base, mask);
            }
        }
    }

    /**
     * A dY Aᵀ for tiles (ti, tj … tj+len−1) of one plane of dy (the gradient of the 2×2 output
     * tiles, zero past the output's edge), written as {@link #transformInput} writes.
     */
    private static void transformGrad(Shape sh, float[] dy, int plane, int ti, int tj, int len, float[] v, int at,
                                      int planeStride, int x0, int x1, float[] eo, float[] row) {
        int rs = sh.rowStride;
        for (int r = 0; r < 2; r++)
            split(dy, plane, sh.oh, sh.ow, 2 * ti + r, 2 * tj, 2 * len, eo, 2 * r * rs, rs, row);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> mask = S.indexInRange(j, len);
            FloatVector p = FloatVector.fromArray(S, eo, j), q = FloatVector.fromArray(S, eo, rs + j);
            FloatVector r = FloatVector.fromArray(S, eo, 2 * rs + j), s = FloatVector.fromArray(S, eo, 3 * rs + j);
            // Rows of A dY: [p, q], [p + r, q + s], [p − r, q − s], [−r, −s]; each [u, w] · Aᵀ = [u, u + w, u − w, −w].
            for (int a = x0 / 4; a <= (x1 - 1) / 4; a++) {
                FloatVector u = a == 0 ? p : a == 1 ? p.add(r) : a == 2 ? p.sub(r) : r.neg();
                FloatVector w = a == 0 ? q : a == 1 ? q.add(s) : a == 2 ? q.sub(s) : s.neg();
                int xi = 4 * a, base = at + j;
                put(u, v, xi, x0, x1, planeStride, base, mask);
                put(u.add(w), v, xi + 1, x0, x1, planeStride, base, mask);
                put(u.sub(w), v, xi + 2, x0, x1, planeStride, base, mask);
                put(w.neg(), v, xi + 3, x0, x1, planeStride, base, mask);
            }
        }
    }

    private static void put(FloatVector value, float[] v, int xi, int x0, int x1, int planeStride, int at, VectorMask<Float> mask) {
        if (xi >= x0 && xi < x1) value.intoArray(v, (xi - x0) * planeStride + at, mask);
    }

    /**
     * Row hIn of a (rows × cols) plane, columns w0 … w0+span−1 (zero outside the plane), split into
     * its even columns at {@code eo[e …]} and odd columns at {@code eo[e + rs …]}.
     */
    private static void split(float[] src, int plane, int rows, int cols, int hIn, int w0, int span, float[] eo, int e, int rs,
                              float[] row) {
        int lo = Math.max(0, -w0), hi = Math.min(span, cols - w0);   // row[q] = src[w0 + q] for lo <= q < hi
        int spanV = (span + 2 * L - 1) / (2 * L) * (2 * L);
        if (hIn < 0 || hIn >= rows || hi <= lo) {
            java.util.Arrays.fill(eo, e, e + 2 * rs, 0f);
            return;
        }
        int at = plane + hIn * cols + w0;
        java.util.Arrays.fill(row, 0, lo, 0f);
        System.arraycopy(src, at + lo, row, lo, hi - lo);
        java.util.Arrays.fill(row, hi, spanV, 0f);
        for (int q = 0, j = 0; q < spanV; q += 2 * L, j += L) {
            FloatVector a = FloatVector.fromArray(S, row, q), b = FloatVector.fromArray(S, row, q + L);
            a.compress(EVEN).intoArray(eo, e + j);
            b.compress(EVEN).intoArray(eo, e + j + L / 2);
            a.compress(ODD).intoArray(eo, e + rs + j);
            b.compress(ODD).intoArray(eo, e + rs + j + L / 2);
        }
    }

    private static FloatVector vertical(float[] eo, int p, int q, boolean add) {
        FloatVector dp = FloatVector.fromArray(S, eo, p), dq = FloatVector.fromArray(S, eo, q);
        return add ? dp.add(dq) : dp.sub(dq);
    }

    /**
     * Aᵀ M A for tiles (ti, tj … tj+len−1) of output channel k ({@code m[ξ·KB·NR + at + j]}), plus the
     * bias and the epilogue, into the output plane at {@code out}.
     */
    private static void transformOutput(Shape sh, float[] m, int at, int len, float[] y, int out, int ti, int tj,
                                        float bias, Sgemm.Epilogue post, int k) {
        int ow = sh.ow, stride = KB * NR;
        boolean second = 2 * ti + 1 < sh.oh;
        float mu = 0f, sc = 0f, shift = 0f;
        if (post != null) {
            int pr = post.off() + k;
            mu = post.mean()[pr];
            sc = post.scale()[pr];
            shift = post.shift()[pr];
        }
        int rowOut = out + 2 * ti * ow;
        for (int j = 0; j < len; j += L) {
            int off = at + j;
            // Aᵀ M: rows m0 + m1 + m2 and m1 − m2 − m3 of each column b, then · A along the columns.
            FloatVector s00 = top(m, off, stride), s01 = top(m, off + stride, stride);
            FloatVector s02 = top(m, off + 2 * stride, stride), s03 = top(m, off + 3 * stride, stride);
            FloatVector y00 = s00.add(s01).add(s02), y01 = s01.sub(s02).sub(s03);
            FloatVector s10 = bottom(m, off, stride), s11 = bottom(m, off + stride, stride);
            FloatVector s12 = bottom(m, off + 2 * stride, stride), s13 = bottom(m, off + 3 * stride, stride);
            FloatVector y10 = s10.add(s11).add(s12), y11 = s11.sub(s12).sub(s13);
            if (bias != 0f) {
                y00 = y00.add(bias); y01 = y01.add(bias); y10 = y10.add(bias); y11 = y11.add(bias);
            }
            if (post != null) {
                y00 = y00.sub(mu).mul(sc).add(shift).max(post.lo()).min(post.hi());
                y01 = y01.sub(mu).mul(sc).add(shift).max(post.lo()).min(post.hi());
                y10 = y10.sub(mu).mul(sc).add(shift).max(post.lo()).min(post.hi());
                y11 = y11.sub(mu).mul(sc).add(shift).max(post.lo()).min(post.hi());
            }
            int col = 2 * (tj + j), count = Math.min(ow, 2 * (tj + len)) - col;   // output columns left in this run
            store(y00.rearrange(ZIP_LO, y01), y00.rearrange(ZIP_HI, y01), y, rowOut + col, count);
            if (second) store(y10.rearrange(ZIP_LO, y11), y10.rearrange(ZIP_HI, y11), y, rowOut + ow + col, count);
        }
    }

    private static FloatVector top(float[] m, int off, int stride) {
        return FloatVector.fromArray(S, m, off).add(FloatVector.fromArray(S, m, off + 4 * stride))
                .add(FloatVector.fromArray(S, m, off + 8 * stride));
    }

    private static FloatVector bottom(float[] m, int off, int stride) {
        return FloatVector.fromArray(S, m, off + 4 * stride).sub(FloatVector.fromArray(S, m, off + 8 * stride))
                .sub(FloatVector.fromArray(S, m, off + 12 * stride));
    }

    /** Stores up to count (of 2L) lanes of lo then hi at y[at]. */
    private static void store(FloatVector lo, FloatVector hi, float[] y, int at, int count) {
        if (count >= 2 * L) {
            lo.intoArray(y, at);
            hi.intoArray(y, at + L);
        } else if (count >= L) {
            lo.intoArray(y, at);
            storeMasked(hi, y, at + L, count - L);
        } else {
            storeMasked(lo, y, at, count);
        }
    }

    private static void storeMasked(FloatVector v, float[] y, int at, int count) {
        if (count <= 0) return;
        if (at + L <= y.length) {
            v.intoArray(y, at, S.indexInRange(0, count));
        } else {
            for (int i = 0; i < count; i++) y[at + i] = v.lane(i);   // the masked path past an array's end is slow
        }
    }
}
