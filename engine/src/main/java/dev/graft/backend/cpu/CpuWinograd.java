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
 * <p>The input is first split, once per call, into its even and odd columns (zero-padded, one row
 * of each per input row), so that every tile's four columns are plain vector loads, 16 tiles per
 * vector. Then, block by block: a block of {@link #NB} tiles (one B micro-panel of {@link Sgemm}) is
 * transformed into 16 packed panels that stay in cache, multiplied by {@link Sgemm#microKernel}
 * with the pre-packed U, and transformed back into the output a slice of {@link #KB} output
 * channels at a time. Blocks are independent, so threads take whole blocks and the result does not
 * depend on the thread count.
 *
 * <p>The data gradient of a stride-1 convolution with padding p is the same convolution of dy with
 * the weights flipped and their channel axes swapped, padding 2 − p, so it runs through the same
 * path. The weight gradient is {@code dU_ξ = Σ_tiles (A dY Aᵀ)_ξ · (Bᵀ d B)_ξᵀ}, 16 GEMMs with the
 * tiles as their depth, then {@code dW = Gᵀ dU G}.
 *
 * <p>Rounding differs from the direct (im2col) convolution: against float64 the error of either is
 * a few 1e-7 of the largest output ({@code CpuWinogradTest}), and the parity tests hold both against
 * the reference backend. {@code -Dgraft.cpu.winograd=false} turns the path off.
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
    /**
     * Interleaving a and b (a0 b0 a1 b1 …): each spread by a one-vector permutation (lane i takes
     * lane i/2, or L/2 + i/2 for the upper halves), then blended on the odd lanes. (The two-vector
     * {@code rearrange} is not compiled to a permutation by C2 and allocates.)
     */
    private static final VectorShuffle<Float> SPREAD_LO = VectorShuffle.fromOp(S, i -> i / 2);
    private static final VectorShuffle<Float> SPREAD_HI = VectorShuffle.fromOp(S, i -> L / 2 + i / 2);

    /** Per-thread scratch: 0 transformed input V, 1 products M (or transformed dy), 2 one padded row. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][]);
    /**
     * The caller's arrays, read by every worker during one call: 0 transformed weights U (or the
     * weight gradient's dU), 1 split input, 2 split dy.
     */
    private static final ThreadLocal<float[][]> SHARED = ThreadLocal.withInitial(() -> new float[3][]);

    private static float[] scratch(float[][] s, int slot, int size) {
        if (s[slot] == null || s[slot].length < size) s[slot] = new float[size];
        return s[slot];
    }

    /** Whether the forward pass (and hence the data gradient) of g takes this path. */
    static boolean applies(ConvGeometry g) {
        return ENABLED && g.groups() == 1 && g.kh() == 3 && g.kw() == 3 && g.strideH() == 1 && g.strideW() == 1
                && g.dilationH() == 1 && g.dilationW() == 1 && g.padH() <= 2 && g.padW() <= 2
                && g.inC() >= MIN_CHANNELS && g.outC() >= MIN_CHANNELS && g.oh() >= 2 && g.ow() >= 2
                && scratchFits(g);
    }

    /**
     * Whether every array this path allocates (the split input, dy and data-gradient input, the
     * transformed weights) stays within Java's array size; tensors near 2³¹ elements take im2col.
     */
    private static boolean scratchFits(ConvGeometry g) {
        long limit = Integer.MAX_VALUE - 64L;
        long fwdRows = 2L * ((g.oh() + 1) / 2) + 2, fwdHalf = (g.ow() + 1) / 2 + 1;   // forward: split x
        long bwdRows = 2L * ((g.h() + 1) / 2) + 2, bwdHalf = (g.w() + 1) / 2 + 1;     // data gradient: split dy
        long weights = 16L * (Math.max(g.inC(), g.outC()) + Sgemm.MR) * Math.max(g.inC(), g.outC());
        return (long) g.n() * g.inC() * fwdRows * 2 * fwdHalf < limit
                && (long) g.n() * g.outC() * Math.max(fwdRows, bwdRows) * 2 * Math.max(fwdHalf, bwdHalf) < limit
                && weights < limit;
    }

    /** y = conv(x, w) + bias, then {@code post} (may be null) per output channel. */
    static void forward(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo,
                        Sgemm.Epilogue post) {
        Shape sh = new Shape(g.n(), g.inC(), g.h(), g.w(), g.outC(), g.oh(), g.ow(), g.padH(), g.padW());
        float[] u = transformWeights(w, wo, sh.k, sh.c, false);
        run(sh, split(sh, x, xo, sh.n * sh.c, sh.h, sh.w, sh.padH, sh.padW, sh.inRows, 1), u, bias, bo, post, y, yo);
    }

    /** dx = the data gradient of conv(x, w) for dy: a convolution of dy with the flipped, transposed w. */
    static void backwardData(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        Shape sh = new Shape(g.n(), g.outC(), g.oh(), g.ow(), g.inC(), g.h(), g.w(), 2 - g.padH(), 2 - g.padW());
        float[] u = transformWeights(w, wo, sh.k, sh.c, true);
        run(sh, split(sh, dy, dyo, sh.n * sh.c, sh.h, sh.w, sh.padH, sh.padW, sh.inRows, 1), u, null, 0, null, dx, dxo);
    }

    /**
     * dw = the weight gradient of conv(x, w) for dy (overwritten): {@code dU_ξ = Σ_tiles (A dY Aᵀ)_ξ ·
     * (Bᵀ d B)_ξᵀ}, one GEMM per ξ and block of {@link #NBW} tiles, then {@code dW = Gᵀ dU G}. Threads
     * take disjoint rows of ξ and go through all blocks in order, so every ξ sums its blocks in the
     * same order whatever the thread count.
     */
    static void backwardWeight(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo) {
        Shape sh = new Shape(g.n(), g.inC(), g.h(), g.w(), g.outC(), g.oh(), g.ow(), g.padH(), g.padW());
        int c = sh.c, k = sh.k, perImage = sh.th * sh.tw, rs = sh.rs;
        float[] xs = split(sh, x, xo, sh.n * c, sh.h, sh.w, sh.padH, sh.padW, sh.inRows, 1);
        float[] dys = split(sh, dy, dyo, sh.n * k, sh.oh, sh.ow, 0, 0, 2 * sh.th, 2);
        float[] du = scratch(SHARED.get(), 0, 16 * k * c);
        // Threads take whole rows a of the 4×4 ξ grid (at most 4 threads).
        int chunks = Parallel.canSplit() ? Math.min(Parallel.threads(), 4) : 1;
        Parallel.run(chunks, ch -> {
            int a0 = 4 * ch / chunks, a1 = 4 * (ch + 1) / chunks, x0 = 4 * a0, x1 = 4 * a1, nx = x1 - x0;
            float[][] s = SCRATCH.get();
            // Planes of nx·(channels × NBW) with L of slack each: see transformInput's whole-vector stores.
            int pv = c * NBW + L, pm = k * NBW + L;
            float[] v = scratch(s, 0, nx * pv + L);
            float[] m = scratch(s, 1, nx * pm + L);
            for (int t0 = 0; t0 < sh.tiles; t0 += NBW) {
                int nbt = Math.min(NBW, sh.tiles - t0);
                // Channel by channel, its runs of tiles (within one tile row) in ascending order.
                for (int ci = 0; ci < c + k; ci++) {
                    for (int t = t0; t < t0 + nbt; ) {
                        int img = t / perImage, rem = t % perImage, ti = rem / sh.tw, tj = rem % sh.tw;
                        int len = Math.min(sh.tw - tj, t0 + nbt - t), col = t - t0;
                        if (ci < c)
                            transformInput(xs, ((img * c + ci) * sh.inRows + 2 * ti) * 2 * rs + tj, rs, len, v, ci * NBW + col, pv, a0, a1);
                        else
                            transformGrad(dys, ((img * k + ci - c) * 2 * sh.th + 2 * ti) * 2 * rs + tj, rs, len, m, (ci - c) * NBW + col, pm, a0, a1);
                        t += len;
                    }
                }
                for (int xi = x0; xi < x1; xi++)
                    Sgemm.sgemm(false, true, k, c, nbt, 1f, m, (xi - x0) * pm, NBW, v, (xi - x0) * pv, NBW,
                            t0 == 0 ? 0f : 1f, du, xi * k * c, c);
            }
        });
        int plane = k * c;
        Parallel.forRange(0, plane, 1024, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                // X = Gᵀ dU (3×4) column by column, then dW = X G (3×3) row by row.
                float x00 = 0, x01 = 0, x02 = 0, x03 = 0, x10 = 0, x11 = 0, x12 = 0, x13 = 0, x20 = 0, x21 = 0, x22 = 0, x23 = 0;
                for (int b = 0; b < 4; b++) {
                    float u0 = du[p + b * plane], u1 = du[p + (4 + b) * plane], u2 = du[p + (8 + b) * plane], u3 = du[p + (12 + b) * plane];
                    float h = 0.5f * (u1 + u2), d = 0.5f * (u1 - u2);
                    float r0 = u0 + h, r2 = h + u3;
                    switch (b) {
                        case 0 -> { x00 = r0; x10 = d; x20 = r2; }
                        case 1 -> { x01 = r0; x11 = d; x21 = r2; }
                        case 2 -> { x02 = r0; x12 = d; x22 = r2; }
                        default -> { x03 = r0; x13 = d; x23 = r2; }
                    }
                }
                int out = dwo + p * 9;
                rowTimesG(x00, x01, x02, x03, dw, out);
                rowTimesG(x10, x11, x12, x13, dw, out + 3);
                rowTimesG(x20, x21, x22, x23, dw, out + 6);
            }
        });
    }

    /** [t0 t1 t2 t3] · G (4×3) into dw[at … at+2]. */
    private static void rowTimesG(float t0, float t1, float t2, float t3, float[] dw, int at) {
        float h = 0.5f * (t1 + t2);
        dw[at] = t0 + h;
        dw[at + 1] = 0.5f * (t1 - t2);
        dw[at + 2] = h + t3;
    }

    // ---------------------------------------------------------------- weights

    /**
     * U_ξ = G g Gᵀ for every (k, c) filter g, packed as Sgemm A micro-panels per ξ:
     * {@code u[(ξ·kPad + kr)·c + ci·MR + r]} holds U_ξ[kr + r][ci]. {@code flipped}: g of (k, c) is
     * w[c][k] rotated by 180° (the data gradient), w being (c, k, 3, 3); otherwise w is (k, c, 3, 3).
     */
    private static float[] transformWeights(float[] w, int wo, int kOut, int cIn, boolean flipped) {
        int kPad = (kOut + MR - 1) / MR * MR, plane = kPad * cIn;
        float[] u = scratch(SHARED.get(), 0, 16 * plane);
        // Vector lanes take 4 channels × the MR rows of a panel: the 16 results of one ξ are then
        // contiguous in the packed layout, and the 9 taps are gathered (lane → filter).
        boolean vector = MR * 4 == L;
        int[] map = new int[L];
        for (int l = 0; l < L; l++) map[l] = flipped ? (l / MR * kOut + l % MR) * 9 : (l % MR * cIn + l / MR) * 9;
        Parallel.forRange(0, kPad / MR, Math.max(1, 4096 / Math.max(1, cIn)), (p0, p1) -> {
            float[] tb = new float[12 * L];
            for (int kr = p0 * MR; kr < p1 * MR; kr += MR) {
                int cVec = vector && kr + MR <= kOut ? cIn / 4 * 4 : 0;
                for (int c0 = 0; c0 < cVec; c0 += 4) {
                    int base = flipped ? wo + (c0 * kOut + kr) * 9 + 8 : wo + (kr * cIn + c0) * 9, st = flipped ? -1 : 1;
                    FloatVector g00 = FloatVector.fromArray(S, w, base, map, 0), g01 = FloatVector.fromArray(S, w, base + st, map, 0);
                    FloatVector g02 = FloatVector.fromArray(S, w, base + 2 * st, map, 0), g10 = FloatVector.fromArray(S, w, base + 3 * st, map, 0);
                    FloatVector g11 = FloatVector.fromArray(S, w, base + 4 * st, map, 0), g12 = FloatVector.fromArray(S, w, base + 5 * st, map, 0);
                    FloatVector g20 = FloatVector.fromArray(S, w, base + 6 * st, map, 0), g21 = FloatVector.fromArray(S, w, base + 7 * st, map, 0);
                    FloatVector g22 = FloatVector.fromArray(S, w, base + 8 * st, map, 0);
                    // The scalar path's operations, lane-wise.
                    FloatVector h0 = g00.add(g20).mul(0.5f), h1 = g01.add(g21).mul(0.5f), h2 = g02.add(g22).mul(0.5f);
                    FloatVector m0 = g10.mul(0.5f), m1 = g11.mul(0.5f), m2 = g12.mul(0.5f);
                    FloatVector t10 = h0.add(m0), t11 = h1.add(m1), t12 = h2.add(m2);
                    FloatVector t20 = h0.sub(m0), t21 = h1.sub(m1), t22 = h2.sub(m2);
                    // T (4×3) through a small buffer, then each row · Gᵀ: one loop body, no vector
                    // crossing iterations.
                    g00.intoArray(tb, 0); g01.intoArray(tb, L); g02.intoArray(tb, 2 * L);
                    t10.intoArray(tb, 3 * L); t11.intoArray(tb, 4 * L); t12.intoArray(tb, 5 * L);
                    t20.intoArray(tb, 6 * L); t21.intoArray(tb, 7 * L); t22.intoArray(tb, 8 * L);
                    g20.intoArray(tb, 9 * L); g21.intoArray(tb, 10 * L); g22.intoArray(tb, 11 * L);
                    for (int a = 0, at = kr * cIn + c0 * MR; a < 4; a++, at += 4 * plane) {
                        FloatVector t0 = FloatVector.fromArray(S, tb, 3 * a * L), t1 = FloatVector.fromArray(S, tb, (3 * a + 1) * L);
                        FloatVector t2 = FloatVector.fromArray(S, tb, (3 * a + 2) * L);
                        FloatVector h = t0.add(t2).mul(0.5f), m = t1.mul(0.5f);
                        t0.intoArray(u, at);
                        h.add(m).intoArray(u, at + plane);
                        h.sub(m).intoArray(u, at + 2 * plane);
                        t2.intoArray(u, at + 3 * plane);
                    }
                }
                for (int r = 0; r < MR; r++) {
                    int k = kr + r;
                    for (int c = cVec; c < cIn; c++) {
                        int at = kr * cIn + c * MR + r;
                        if (k >= kOut) {
                            for (int xi = 0; xi < 16; xi++) u[xi * plane + at] = 0f;
                            continue;
                        }
                        int src = flipped ? wo + (c * kOut + k) * 9 : wo + (k * cIn + c) * 9;
                        // Rotating by 180° reverses the 9 taps.
                        int s0 = flipped ? src + 8 : src, step = flipped ? -1 : 1;
                        float g00 = w[s0], g01 = w[s0 + step], g02 = w[s0 + 2 * step];
                        float g10 = w[s0 + 3 * step], g11 = w[s0 + 4 * step], g12 = w[s0 + 5 * step];
                        float g20 = w[s0 + 6 * step], g21 = w[s0 + 7 * step], g22 = w[s0 + 8 * step];
                        // T = G g (4×3): rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2; then U = T Gᵀ row by row.
                        float h0 = 0.5f * (g00 + g20), h1 = 0.5f * (g01 + g21), h2 = 0.5f * (g02 + g22);
                        float m0 = 0.5f * g10, m1 = 0.5f * g11, m2 = 0.5f * g12;
                        rowTimesGt(g00, g01, g02, u, at, plane);
                        rowTimesGt(h0 + m0, h1 + m1, h2 + m2, u, at + 4 * plane, plane);
                        rowTimesGt(h0 - m0, h1 - m1, h2 - m2, u, at + 8 * plane, plane);
                        rowTimesGt(g20, g21, g22, u, at + 12 * plane, plane);
                    }
                }
            }
        });
        return u;
    }

    /** [t0 t1 t2] · Gᵀ (3×4) into u[at + b·plane], b = 0 … 3. */
    private static void rowTimesGt(float t0, float t1, float t2, float[] u, int at, int plane) {
        float h = 0.5f * (t0 + t2), m = 0.5f * t1;
        u[at] = t0;
        u[at + plane] = h + m;
        u[at + 2 * plane] = h - m;
        u[at + 3 * plane] = t2;
    }

    // ---------------------------------------------------------------- the convolution

    /**
     * The problem: input (n, c, h, w) padded by padH/padW, k output channels of (oh, ow); th × tw
     * tiles of 2×2 outputs per image; the input split into inRows padded rows of row stride rs.
     */
    private record Shape(int n, int c, int h, int w, int k, int oh, int ow, int padH, int padW,
                         int th, int tw, int tiles, int kPad, int inRows, int rs) {
        Shape(int n, int c, int h, int w, int k, int oh, int ow, int padH, int padW) {
            this(n, c, h, w, k, oh, ow, padH, padW, (oh + 1) / 2, (ow + 1) / 2, n * ((oh + 1) / 2) * ((ow + 1) / 2),
                    (k + MR - 1) / MR * MR, 2 * ((oh + 1) / 2) + 2, (ow + 1) / 2 + 1);
        }
    }

    /**
     * Splits every row of the (planes, rows, cols) tensor at src into its even and odd columns,
     * padded: split row r of a plane is source row r − padH (zero outside), its column j of the even
     * half is source column 2j − padW and of the odd half 2j + 1 − padW (zero outside); tw + 1 columns
     * per half at row stride rs (halves at 2·rs per row), {@code outRows} rows per plane. Then each
     * tile's columns are plain vector loads. Returns the caller's shared slot {@code slot}.
     */
    private static float[] split(Shape sh, float[] src, int off, int planes, int rows, int cols, int padH, int padW,
                                 int outRows, int slot) {
        int rs = sh.rs, half = sh.tw + 1, span = 2 * half;
        int spanV = (span + 2 * L - 1) / (2 * L) * (2 * L);
        float[] out = scratch(SHARED.get(), slot, planes * outRows * 2 * rs + 2 * L);   // slack: whole-vector loads of the last tiles
        int lo = Math.max(0, padW), hi = Math.min(span, cols + padW);   // padded row q = source column q − padW
        Parallel.forRange(0, planes * outRows, Math.max(1, CpuBackend.GRAIN / Math.max(1, span)), (r0, r1) -> {
            float[] row = scratch(SCRATCH.get(), 2, spanV);
            for (int pr = r0; pr < r1; pr++) {
                int plane = pr / outRows, r = pr % outRows, hIn = r - padH, e = pr * 2 * rs;
                if (hIn < 0 || hIn >= rows || hi <= lo) {
                    java.util.Arrays.fill(out, e, e + 2 * rs, 0f);
                    continue;
                }
                java.util.Arrays.fill(row, 0, lo, 0f);
                System.arraycopy(src, off + (plane * rows + hIn) * cols + lo - padW, row, lo, hi - lo);
                java.util.Arrays.fill(row, hi, spanV, 0f);
                for (int q = 0, j = 0; q < spanV; q += 2 * L, j += L) {
                    FloatVector a = FloatVector.fromArray(S, row, q), b = FloatVector.fromArray(S, row, q + L);
                    // Halves are packed tightly (rs = tw + 1): masked stores, so no row writes into
                    // another (rows are split on several threads).
                    int n0 = Math.max(0, Math.min(L / 2, half - j)), n1 = Math.max(0, Math.min(L / 2, half - j - L / 2));
                    VectorMask<Float> m0 = Sgemm.firstLanes(n0), m1 = Sgemm.firstLanes(n1);
                    a.compress(EVEN).intoArray(out, e + j, m0);
                    b.compress(EVEN).intoArray(out, e + j + L / 2, m1);
                    a.compress(ODD).intoArray(out, e + rs + j, m0);
                    b.compress(ODD).intoArray(out, e + rs + j + L / 2, m1);
                }
            }
        });
        return out;
    }

    /** The forward convolution of split input xs with transformed weights u, plus bias, then post. */
    private static void run(Shape sh, float[] xs, float[] u, float[] bias, int bo, Sgemm.Epilogue post, float[] y, int yo) {
        int blocks = (sh.tiles + NB - 1) / NB;
        int chunks = Math.min(Parallel.threads(), blocks);
        Parallel.run(chunks, ch -> {
            int b0 = (int) ((long) blocks * ch / chunks), b1 = (int) ((long) blocks * (ch + 1) / chunks);
            float[][] s = SCRATCH.get();
            float[] v = scratch(s, 0, 16 * (sh.c * NR + L) + L);
            float[] m = scratch(s, 1, 16 * KB * NR + L);
            for (int b = b0; b < b1; b++) {
                int t0 = b * NB, nbt = Math.min(NB, sh.tiles - t0);
                block(sh, t0, nbt, xs, u, bias, bo, post, y, yo, v, m);
            }
        });
    }

    private static void block(Shape sh, int t0, int nbt, float[] xs, float[] u, float[] bias, int bo,
                              Sgemm.Epilogue post, float[] y, int yo, float[] v, float[] m) {
        int perImage = sh.th * sh.tw, rs = sh.rs;
        // Input, channel by channel: its runs of tiles (within one tile row) in ascending order.
        // Panels of c × NR with L of slack each: see transformInput's whole-vector stores.
        int panel = sh.c * NR + L;
        for (int c = 0; c < sh.c; c++) {
            for (int t = t0; t < t0 + nbt; ) {
                int img = t / perImage, rem = t % perImage, ti = rem / sh.tw, tj = rem % sh.tw;
                int len = Math.min(sh.tw - tj, t0 + nbt - t);
                transformInput(xs, ((img * sh.c + c) * sh.inRows + 2 * ti) * 2 * rs + tj, rs, len, v, c * NR + (t - t0), panel, 0, 4);
                t += len;
            }
        }
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

    // C2 intrinsifies Vector API calls only where they are inlined, and a vector that crosses a call
    // that is not inlined is boxed (allocated). The transforms below therefore keep every vector
    // inside one method: no helper takes or returns a vector. And no method may grow so big that C1
    // gives up on it ("out of virtual registers"): it then never reaches C2 and runs the Vector API's
    // Java fallbacks, 10-20x slower (check with -XX:+PrintCompilation).

    /**
     * Bᵀ d B for len tiles whose four split input rows start at xs[at] (even half; odd half at +rs,
     * next row at +2·rs): tile j's columns are E[j], O[j], E[j+1], O[j+1]. Value ξ = 4a + b of tile
     * j goes to {@code v[(ξ − 4·a0)·planeStride + to + j]}, for rows a in [a0, a1) only.
     *
     * <p>Whole vectors are stored (masked stores cost more than the transform): up to L − 1 values
     * past the run's end. Callers write a plane row by row and each row's runs in ascending order,
     * so those values land where a later run writes, in columns the products ignore, or in the L
     * floats of slack after each plane.
     */
    private static void transformInput(float[] xs, int at, int rs, int len, float[] v, int to, int planeStride, int a0, int a1) {
        for (int j = 0; j < len; j += L) {
            for (int a = a0; a < a1; a++) {
                // Row a of Bᵀ d is d0 − d2, d1 + d2, d2 − d1, d1 − d3: rows pr ± qr of the split input,
                // for each of the four tile columns (c0 … c3); then · B along the columns.
                int pr = a == 0 ? 0 : a == 2 ? 2 : 1, qr = a == 0 ? 2 : a == 2 ? 1 : a == 1 ? 2 : 3;
                int p = at + j + pr * 2 * rs, q = at + j + qr * 2 * rs;
                FloatVector p0 = FloatVector.fromArray(S, xs, p), q0 = FloatVector.fromArray(S, xs, q);
                FloatVector p1 = FloatVector.fromArray(S, xs, p + rs), q1 = FloatVector.fromArray(S, xs, q + rs);
                FloatVector p2 = FloatVector.fromArray(S, xs, p + 1), q2 = FloatVector.fromArray(S, xs, q + 1);
                FloatVector p3 = FloatVector.fromArray(S, xs, p + rs + 1), q3 = FloatVector.fromArray(S, xs, q + rs + 1);
                int base = (a - a0) * 4 * planeStride + to + j;
                if (a == 1) {
                    FloatVector c0 = p0.add(q0), c1 = p1.add(q1), c2 = p2.add(q2), c3 = p3.add(q3);
                    c0.sub(c2).intoArray(v, base);
                    c1.add(c2).intoArray(v, base + planeStride);
                    c2.sub(c1).intoArray(v, base + 2 * planeStride);
                    c1.sub(c3).intoArray(v, base + 3 * planeStride);
                } else {
                    FloatVector c0 = p0.sub(q0), c1 = p1.sub(q1), c2 = p2.sub(q2), c3 = p3.sub(q3);
                    c0.sub(c2).intoArray(v, base);
                    c1.add(c2).intoArray(v, base + planeStride);
                    c2.sub(c1).intoArray(v, base + 2 * planeStride);
                    c1.sub(c3).intoArray(v, base + 3 * planeStride);
                }
            }
        }
    }

    /**
     * A dY Aᵀ for len tiles of dy (the gradient of their 2×2 outputs, zero past the output's edge)
     * whose two split rows start at dys[at]; written as {@link #transformInput} writes. Rows of
     * A dY: [p, q], [p + r, q + s], [p − r, q − s], [−r, −s]; each row [u, w] · Aᵀ = [u, u + w, u − w, −w].
     */
    private static void transformGrad(float[] dys, int at, int rs, int len, float[] v, int to, int planeStride, int a0, int a1) {
        // Small methods per row of A dY: one method with all four is too big for C1 (it runs out
        // of registers, and the method then never reaches C2).
        for (int j = 0; j < len; j += L) {
            int e = at + j;
            for (int a = a0; a < a1; a++) {
                int b = (a - a0) * 4 * planeStride + to + j;
                switch (a) {
                    case 0 -> gradRow0(dys, e, rs, v, b, planeStride);
                    case 1 -> gradRowMid(dys, e, rs, v, b, planeStride, 1f);
                    case 2 -> gradRowMid(dys, e, rs, v, b, planeStride, -1f);
                    default -> gradRow3(dys, e, rs, v, b, planeStride);
                }
            }
        }
    }

    /** Row [p, q] of A dY, times Aᵀ: p, p + q, p − q, −q (n lanes). */
    private static void gradRow0(float[] dys, int e, int rs, float[] v, int b, int ps) {
        FloatVector p = FloatVector.fromArray(S, dys, e), q = FloatVector.fromArray(S, dys, e + rs);
        p.intoArray(v, b);
        p.add(q).intoArray(v, b + ps);
        p.sub(q).intoArray(v, b + 2 * ps);
        q.neg().intoArray(v, b + 3 * ps);
    }

    /**
     * Row [p + sign·r, q + sign·s] (sign ±1: rows 1 and 2; multiplying by ±1 is exact, so this is
     * p + r or p − r to the bit).
     */
    private static void gradRowMid(float[] dys, int e, int rs, float[] v, int b, int ps, float sign) {
        FloatVector u = FloatVector.fromArray(S, dys, e).add(FloatVector.fromArray(S, dys, e + 2 * rs).mul(sign));
        FloatVector w = FloatVector.fromArray(S, dys, e + rs).add(FloatVector.fromArray(S, dys, e + 3 * rs).mul(sign));
        u.intoArray(v, b);
        u.add(w).intoArray(v, b + ps);
        u.sub(w).intoArray(v, b + 2 * ps);
        w.neg().intoArray(v, b + 3 * ps);
    }

    /** Row [−r, −s]: −r, −r − s, −r + s, s. */
    private static void gradRow3(float[] dys, int e, int rs, float[] v, int b, int ps) {
        FloatVector u = FloatVector.fromArray(S, dys, e + 2 * rs).neg(), s = FloatVector.fromArray(S, dys, e + 3 * rs);
        u.intoArray(v, b);
        u.sub(s).intoArray(v, b + ps);
        u.add(s).intoArray(v, b + 2 * ps);
        s.intoArray(v, b + 3 * ps);
    }

    /**
     * Aᵀ M A for tiles (ti, tj … tj+len−1) of output channel k ({@code m[ξ·KB·NR + at + j]}), plus the
     * bias and the epilogue, into the output plane at {@code out}: rows m0 + m1 + m2 and
     * m1 − m2 − m3 of each column, then the same along the rows; the two outputs of a tile row are
     * interleaved into consecutive columns.
     */
    private static void transformOutput(Shape sh, float[] m, int at, int len, float[] y, int out, int ti, int tj,
                                        float bias, Sgemm.Epilogue post, int k) {
        int ow = sh.ow, st = KB * NR;
        boolean second = 2 * ti + 1 < sh.oh;
        boolean epilogue = post != null;
        float mu = 0f, sc = 0f, shift = 0f, lo = 0f, hi = 0f;
        if (epilogue) {
            int pr = post.off() + k;
            mu = post.mean()[pr];
            sc = post.scale()[pr];
            shift = post.shift()[pr];
            lo = post.lo();
            hi = post.hi();
        }
        int rowOut = out + 2 * ti * ow;
        for (int j = 0; j < len; j += L) {
            int o = at + j;
            FloatVector m00 = FloatVector.fromArray(S, m, o), m01 = FloatVector.fromArray(S, m, o + st);
            FloatVector m02 = FloatVector.fromArray(S, m, o + 2 * st), m03 = FloatVector.fromArray(S, m, o + 3 * st);
            FloatVector m10 = FloatVector.fromArray(S, m, o + 4 * st), m11 = FloatVector.fromArray(S, m, o + 5 * st);
            FloatVector m12 = FloatVector.fromArray(S, m, o + 6 * st), m13 = FloatVector.fromArray(S, m, o + 7 * st);
            FloatVector m20 = FloatVector.fromArray(S, m, o + 8 * st), m21 = FloatVector.fromArray(S, m, o + 9 * st);
            FloatVector m22 = FloatVector.fromArray(S, m, o + 10 * st), m23 = FloatVector.fromArray(S, m, o + 11 * st);
            FloatVector m30 = FloatVector.fromArray(S, m, o + 12 * st), m31 = FloatVector.fromArray(S, m, o + 13 * st);
            FloatVector m32 = FloatVector.fromArray(S, m, o + 14 * st), m33 = FloatVector.fromArray(S, m, o + 15 * st);
            FloatVector s00 = m00.add(m10).add(m20), s01 = m01.add(m11).add(m21), s02 = m02.add(m12).add(m22), s03 = m03.add(m13).add(m23);
            FloatVector s10 = m10.sub(m20).sub(m30), s11 = m11.sub(m21).sub(m31), s12 = m12.sub(m22).sub(m32), s13 = m13.sub(m23).sub(m33);
            FloatVector y00 = s00.add(s01).add(s02), y01 = s01.sub(s02).sub(s03);
            FloatVector y10 = s10.add(s11).add(s12), y11 = s11.sub(s12).sub(s13);
            if (bias != 0f) {
                y00 = y00.add(bias);
                y01 = y01.add(bias);
                y10 = y10.add(bias);
                y11 = y11.add(bias);
            }
            if (epilogue) {
                y00 = y00.sub(mu).mul(sc).add(shift).max(lo).min(hi);
                y01 = y01.sub(mu).mul(sc).add(shift).max(lo).min(hi);
                y10 = y10.sub(mu).mul(sc).add(shift).max(lo).min(hi);
                y11 = y11.sub(mu).mul(sc).add(shift).max(lo).min(hi);
            }
            int col = 2 * (tj + j), count = Math.min(ow, 2 * (tj + len)) - col;   // output columns left in this run
            int dst = rowOut + col;
            FloatVector lo0 = y00.rearrange(SPREAD_LO).blend(y01.rearrange(SPREAD_LO), ODD);
            FloatVector hi0 = y00.rearrange(SPREAD_HI).blend(y01.rearrange(SPREAD_HI), ODD);
            if (count >= 2 * L) {
                lo0.intoArray(y, dst);
                hi0.intoArray(y, dst + L);
            } else if (dst + 2 * L <= y.length) {
                // The last tiles of a run: the first `count` outputs, masked (scalar past the array's end).
                lo0.intoArray(y, dst, Sgemm.firstLanes(count));
                if (count > L) hi0.intoArray(y, dst + L, Sgemm.firstLanes(count - L));
            } else {
                for (int i = 0; i < count; i++) y[dst + i] = i < L ? lo0.lane(i) : hi0.lane(i - L);
            }
            if (second) {
                dst += ow;
                FloatVector lo1 = y10.rearrange(SPREAD_LO).blend(y11.rearrange(SPREAD_LO), ODD);
                FloatVector hi1 = y10.rearrange(SPREAD_HI).blend(y11.rearrange(SPREAD_HI), ODD);
                if (count >= 2 * L) {
                    lo1.intoArray(y, dst);
                    hi1.intoArray(y, dst + L);
                } else if (dst + 2 * L <= y.length) {
                    lo1.intoArray(y, dst, Sgemm.firstLanes(count));
                    if (count > L) hi1.intoArray(y, dst + L, Sgemm.firstLanes(count - L));
                } else {
                    for (int i = 0; i < count; i++) y[dst + i] = i < L ? lo1.lane(i) : hi1.lane(i - L);
                }
            }
        }
    }
}
