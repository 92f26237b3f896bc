package dev.graft.backend.cpu;

import dev.graft.backend.ConvGeometry;
import java.util.Arrays;

/**
 * 2-D convolution as GEMM over an implicit im2col matrix, per group, over chunks of images.
 *
 * <p>The column matrix of a group (K = inC/groups·kh·kw rows, one column per output position) is
 * never stored: {@link Unfold} reads its entries straight from x, and {@link Sgemm} asks for it
 * panel by panel ({@link Sgemm.PanelB}), so only cache-sized packed panels exist. A whole column
 * matrix would be megabytes and make every convolution a round trip through L3.
 *
 * <p>A chunk of {@code nb} images is laid side by side as one GEMM with nb·P columns (P = oh·ow),
 * so late layers with tiny P still give the GEMM a wide n (forward) or a deep k (weight gradient).
 * nb depends only on the shapes, never on the thread count; the weight gradient adds the chunks'
 * products in chunk order. Unpadded stride-1 1×1 convolutions of
 * one image use x itself as the B matrix; depthwise convolutions (groups = inC = outC) use direct
 * loops in {@link CpuDepthwise}. The data gradient is Wᵀ·dY into column blocks of bounded size,
 * folded back (col2im) block by block.
 *
 * <p>Parallelism: inside the GEMMs and the folding loops, over groups when there are many small
 * groups, or (weight gradient) over whole chunks. Every result is independent of the thread count.
 */
final class CpuConvolution {
    private CpuConvolution() {}

    /** Aim for at least this many GEMM columns per chunk of images. */
    private static final int COL_TARGET = 1024;
    /** Upper bound (floats) on a chunk's output tile or gathered dy (channels × chunk columns). */
    private static final int CHUNK_MAX = 1 << 22;
    /** Target size (floats) of one column block of the data gradient. */
    private static final int DCOL_BLOCK = 1 << 18;
    /** Below this many multiply-adds per group, groups run on separate threads. */
    private static final long GROUP_WORK_SPLIT = 1L << 22;

    /** Per-thread scratch arrays, grown on demand and kept (slots: 0 column block, 1 gathered dy / output tile, 2 transposed weight gradient). */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][]);

    static float[] scratch(int slot, int size) {
        float[][] s = SCRATCH.get();
        if (s[slot] == null || s[slot].length < size) s[slot] = new float[Math.max(size, 1024)];
        return s[slot];
    }

    private static boolean pointwise(ConvGeometry g) {
        return g.kh() == 1 && g.kw() == 1 && g.strideH() == 1 && g.strideW() == 1 && g.padH() == 0 && g.padW() == 0;
    }

    private static int k(ConvGeometry g) {
        return g.inPerGroup() * g.kh() * g.kw();
    }

    /** Images per chunk: a function of the shapes only (it fixes the weight gradient's summation order). */
    static int imagesPerChunk(ConvGeometry g) {
        long p = (long) g.oh() * g.ow();
        long byTarget = (COL_TARGET + p - 1) / p;
        long byMemory = Math.max(1, CHUNK_MAX / Math.max(1, Math.max(g.outPerGroup(), k(g)) * p));
        int nb = (int) Math.max(1, Math.min(g.n(), Math.min(byTarget, byMemory)));
        int chunks = (g.n() + nb - 1) / nb;
        // An odd number of chunks (ResNet's 14×14 layers at batch 16: 3) cannot be shared evenly by
        // two threads in the weight gradient, which then splits every chunk's GEMM and packs its
        // operand twice (79 vs 140 GFLOP/s measured): take one chunk fewer when memory allows.
        if (chunks > 1 && chunks % 2 == 1 && (g.n() + chunks - 2) / (chunks - 1) <= byMemory) chunks--;
        return (g.n() + chunks - 1) / chunks;   // that many chunks, sizes as even as possible
    }

    private static int groupGrain(ConvGeometry g, int cols) {
        long work = (long) g.outPerGroup() * k(g) * cols;
        return work < GROUP_WORK_SPLIT ? 1 : g.groups();
    }

    /** Offset of group gi's first channel plane of image img in an (n, channels, h, w) tensor. */
    private static int plane(int off, int img, int channels, int gi, int perGroup, int hw) {
        return off + (img * channels + gi * perGroup) * hw;
    }

    // ---------------------------------------------------------------- forward

    static void forward(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo) {
        forward(g, x, xo, w, wo, bias, bo, y, yo, null);
    }

    /** As above, then {@code post} (a per-output-channel epilogue, may be null; not for depthwise) on every output. */
    static void forward(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo,
                        Sgemm.Epilogue post) {
        if (g.isDepthwise()) {
            if (post != null) throw new IllegalArgumentException("depthwise convolution has no fused epilogue");
            CpuDepthwise.forward(g, x, xo, w, wo, bias, bo, y, yo);
            return;
        }
        if (CpuWinograd.applies(g)) CpuWinograd.forward(g, x, xo, w, wo, bias, bo, y, yo, post);
        else forwardDirect(g, x, xo, w, wo, bias, bo, y, yo, post);
    }

    /** The im2col forward of any non-depthwise convolution (the path {@link CpuWinograd} replaces for 3×3 stride 1). */
    static void forwardDirect(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo,
                              Sgemm.Epilogue post) {
        int nb = imagesPerChunk(g), groups = g.groups();
        int kk = k(g), p = g.oh() * g.ow(), hw = g.h() * g.w(), cin = g.inPerGroup(), cout = g.outPerGroup();
        boolean direct1x1 = pointwise(g);
        for (int n0 = 0; n0 < g.n(); n0 += nb) {
            int cnt = Math.min(nb, g.n() - n0), cols = cnt * p, img0 = n0;
            Parallel.forRange(0, groups, groupGrain(g, cols), (g0, g1) -> {
                for (int gi = g0; gi < g1; gi++) {
                    // One image: write y directly. Several: a Cout×cols tile, then scattered per image.
                    float[] c = cnt == 1 ? y : scratch(1, cout * cols);
                    int cOff = cnt == 1 ? plane(yo, img0, g.outC(), gi, cout, p) : 0, ldc = cnt == 1 ? p : cols;
                    int aOff = wo + gi * cout * kk;
                    Sgemm.Epilogue groupPost = post == null ? null : post.at(gi * cout);
                    Sgemm.PanelB panels;
                    if (direct1x1 && cnt == 1) {
                        int xb = plane(xo, img0, g.inC(), gi, cin, hw);
                        panels = (p0, kc, j0, nc, bp) -> Sgemm.packB(false, x, xb, cols, p0, kc, j0, nc, bp);
                    } else {
                        Unfold u = new Unfold(g, xo, img0, cnt, gi);
                        panels = (p0, kc, j0, nc, bp) -> u.panels(x, p0, kc, j0, nc, bp);
                    }
                    Sgemm.sgemm(false, cout, cols, kk, 1f, w, aOff, kk, panels, 0f, c, cOff, ldc, bias, bo + gi * cout, groupPost);
                    if (cnt > 1) {
                        int gg = gi;
                        Parallel.forRange(0, cout * cnt, Math.max(1, CpuBackend.GRAIN / p), (r0, r1) -> {
                            for (int r = r0; r < r1; r++) {
                                int co = r / cnt, i = r % cnt;
                                System.arraycopy(c, co * cols + i * p, y, plane(yo, img0 + i, g.outC(), gg, cout, p) + co * p, p);
                            }
                        });
                    }
                }
            });
        }
    }

    // ---------------------------------------------------------------- backward data

    static void backwardData(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        if (g.isDepthwise()) {
            CpuDepthwise.backwardData(g, dy, dyo, w, wo, dx, dxo);
            return;
        }
        if (CpuWinograd.applies(g)) CpuWinograd.backwardData(g, dy, dyo, w, wo, dx, dxo);
        else backwardDataDirect(g, dy, dyo, w, wo, dx, dxo);
    }

    /** The GEMM + col2im data gradient of any non-depthwise convolution. */
    static void backwardDataDirect(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        int nb = imagesPerChunk(g), groups = g.groups();
        int kk = k(g), p = g.oh() * g.ow(), hw = g.h() * g.w(), cin = g.inPerGroup(), cout = g.outPerGroup();
        boolean direct1x1 = pointwise(g);
        for (int n0 = 0; n0 < g.n(); n0 += nb) {
            int cnt = Math.min(nb, g.n() - n0), cols = cnt * p, img0 = n0;
            Parallel.forRange(0, groups, groupGrain(g, cols), (g0, g1) -> {
                for (int gi = g0; gi < g1; gi++) {
                    float[] b = cnt == 1 ? dy : gatherRows(g, dy, dyo, img0, cnt, gi);
                    int bOff = cnt == 1 ? plane(dyo, img0, g.outC(), gi, cout, p) : 0, ldb = cnt == 1 ? p : cols;
                    int aOff = wo + gi * cout * kk;
                    if (direct1x1 && cnt == 1) {   // dx_g = W_gᵀ · dy_g, no folding
                        Sgemm.sgemm(true, false, kk, cols, cout, 1f, w, aOff, kk, b, bOff, ldb, 0f,
                                dx, plane(dxo, img0, g.inC(), gi, cin, hw), hw);
                        continue;
                    }
                    for (int i = 0; i < cnt; i++) {
                        int d = plane(dxo, img0 + i, g.inC(), gi, cin, hw);
                        Arrays.fill(dx, d, d + cin * hw, 0f);
                    }
                    // dcol block (K × qb) = W_gᵀ · dy_g[:, q0 .. q0+qb), then folded onto dx.
                    Unfold u = new Unfold(g, dxo, img0, cnt, gi);
                    int qb = Math.min(cols, Math.max(4 * Sgemm.NR, DCOL_BLOCK / kk / Sgemm.NR * Sgemm.NR));
                    float[] dcol = scratch(0, kk * qb);
                    for (int q0 = 0; q0 < cols; q0 += qb) {
                        int len = Math.min(qb, cols - q0), start = q0;
                        Sgemm.sgemm(true, false, kk, len, cout, 1f, w, aOff, kk, b, bOff + q0, ldb, 0f, dcol, 0, len);
                        int grain = Math.max(1, CpuBackend.GRAIN / Math.max(1, len * g.kh() * g.kw()));
                        Parallel.forRange(0, cin, grain, (c0, c1) -> {
                            int taps = g.kh() * g.kw();
                            for (int r = c0 * taps; r < c1 * taps; r++) u.scatterAdd(r, start, len, dcol, r * len, dx);
                        });
                    }
                }
            });
        }
    }

    // ---------------------------------------------------------------- backward weight

    static void backwardWeight(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo) {
        if (g.isDepthwise()) {
            CpuDepthwise.backwardWeight(g, x, xo, dy, dyo, dw, dwo);
            return;
        }
        if (CpuWinograd.applies(g)) CpuWinograd.backwardWeight(g, x, xo, dy, dyo, dw, dwo);
        else backwardWeightDirect(g, x, xo, dy, dyo, dw, dwo);
    }

    /** The GEMM weight gradient of any non-depthwise convolution, chunk by chunk. */
    static void backwardWeightDirect(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo) {
        int nb = imagesPerChunk(g), chunks = (g.n() + nb - 1) / nb;
        if (chunks == 1) {
            weightChunk(g, x, xo, dy, dyo, 0, nb, dw, dwo);
            return;
        }
        // dW = ((P_0 + P_1) + P_2) + …, P_i the product of chunk i computed on its own: the same
        // sequence of roundings whatever the thread count. Threads only change the schedule: whole
        // chunks per thread (a wave at a time, nothing packed twice) when that keeps all threads
        // busy, else one chunk after the other with the GEMM split across threads.
        int size = g.outC() * k(g);
        int threads = Parallel.canSplit() ? Math.min(Parallel.threads(), chunks) : 1;
        boolean byChunk = threads > 1 && (chunks % threads == 0 || chunks >= 3 * threads);
        int slots = byChunk ? threads : 1;
        float[][] partial = partials(slots, size);
        for (int w0 = 0; w0 < chunks; w0 += slots) {
            int wave = Math.min(slots, chunks - w0), first = w0;
            Parallel.run(wave, i -> weightChunk(g, x, xo, dy, dyo, (first + i) * nb, nb, partial[i], 0));
            for (int i = 0; i < wave; i++) {
                float[] pi = partial[i];
                if (first + i == 0) System.arraycopy(pi, 0, dw, dwo, size);
                else Parallel.forRange(0, size, CpuBackend.GRAIN, (s, e) -> {
                    for (int j = s; j < e; j++) dw[dwo + j] += pi[j];
                });
            }
        }
    }

    /** Per calling thread: the weight gradient's per-chunk products, kept between calls (they can be megabytes). */
    private static final ThreadLocal<float[][]> PARTIALS = ThreadLocal.withInitial(() -> new float[0][]);

    private static float[][] partials(int slots, int size) {
        float[][] p = PARTIALS.get();
        if (p.length < slots) p = Arrays.copyOf(p, slots);
        for (int i = 0; i < slots; i++) if (p[i] == null || p[i].length < size) p[i] = new float[size];
        PARTIALS.set(p);
        return p;
    }

    /**
     * Writes to dw the product dY_chunk · colᵀ of the chunk of images starting at img0, for every group.
     *
     * <p>Both factors have the positions (the sum's index) as their contiguous dimension, so one of
     * them must be packed transposed into the GEMM's NR-wide panels, element by element. For narrow
     * layers whose column matrix has more rows than dY (K = inC/groups·kh·kw &gt; outC/groups ≤ 64),
     * and where outC fills the NR-wide micro-tiles better than K, the product is formed transposed,
     * dWᵀ = col · dYᵀ: col then packs as the A operand (MR = 4 rows interleaved, cheap) and only dY
     * is packed transposed; the K×outC result is transposed into dw. Each element of dW is the same sum of the same products in the
     * same order either way, so the result is bit-identical.
     */
    private static void weightChunk(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, int img0, int nb,
                                    float[] dw, int dwo) {
        int kk = k(g), p = g.oh() * g.ow(), hw = g.h() * g.w(), cin = g.inPerGroup(), cout = g.outPerGroup();
        int cnt = Math.min(nb, g.n() - img0), cols = cnt * p;
        // Measured (Conv2dBenchmark, batch 16): transposed wins for narrow layers (ResNet's stem and
        // layer1: 93 vs 81 and 108 vs 103 GFLOP/s) and where it fills the micro-tiles' NR columns
        // better (the result's width is outC instead of K: MobileNetV2's 1×1 expansions from 16–32
        // channels), and loses for wide 3×3 layers.
        boolean direct1x1 = pointwise(g) && cnt == 1;
        boolean transposed = (!pointwise(g) && kk > cout && cout <= 64) || columnFill(cout) > columnFill(kk) + 0.05;
        Parallel.forRange(0, g.groups(), groupGrain(g, cols), (g0, g1) -> {
            for (int gi = g0; gi < g1; gi++) {
                float[] a = cnt == 1 ? dy : gatherRows(g, dy, dyo, img0, cnt, gi);
                int aOff = cnt == 1 ? plane(dyo, img0, g.outC(), gi, cout, p) : 0, lda = cnt == 1 ? p : cols;
                int cOff = dwo + gi * cout * kk;
                int xb = plane(xo, img0, g.inC(), gi, cin, hw);
                Unfold u = direct1x1 ? null : new Unfold(g, xo, img0, cnt, gi);
                if (transposed) {
                    float[] ct = scratch(2, kk * cout);
                    Sgemm.PanelA colRows = direct1x1
                            ? (i0, mc, p0, kc, ap) -> Sgemm.packA(false, x, xb, cols, i0, mc, p0, kc, ap)
                            : (i0, mc, p0, kc, ap) -> u.rowPanels(x, i0, mc, p0, kc, ap);
                    Sgemm.sgemm(kk, cout, cols, 1f, colRows, (p0, kc, j0, nc, bp) -> Sgemm.packB(true, a, aOff, lda, p0, kc, j0, nc, bp),
                            0f, ct, 0, cout, null, 0, null);
                    int grain = Math.max(1, CpuBackend.GRAIN / Math.max(1, kk));
                    Parallel.forRange(0, cout, grain, (c0, c1) -> {
                        for (int co = c0; co < c1; co++)
                            for (int r = 0; r < kk; r++) dw[cOff + co * kk + r] = ct[r * cout + co];
                    });
                } else if (direct1x1) {
                    Sgemm.sgemm(false, true, cout, kk, cols, 1f, a, aOff, lda, x, xb, cols, 0f, dw, cOff, kk);
                } else {
                    Sgemm.sgemm(false, cout, kk, cols, 1f, a, aOff, lda,
                            (p0, kc, j0, nc, bp) -> u.transposedPanels(x, p0, kc, j0, nc, bp), 0f, dw, cOff, kk, null, 0);
                }
            }
        });
    }

    /** The fraction of micro-tile columns doing useful work for a GEMM result n wide. */
    private static double columnFill(int n) {
        return (double) n / ((n + Sgemm.NR - 1) / Sgemm.NR * Sgemm.NR);
    }

    /** dY rows of group gi for images img0 … img0+cnt side by side: a Cout×(cnt·P) matrix in scratch 1. */
    private static float[] gatherRows(ConvGeometry g, float[] dy, int dyo, int img0, int cnt, int gi) {
        int p = g.oh() * g.ow(), cout = g.outPerGroup(), cols = cnt * p;
        float[] buf = scratch(1, cout * cols);
        Parallel.forRange(0, cout * cnt, Math.max(1, CpuBackend.GRAIN / p), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int co = r / cnt, i = r % cnt;
                System.arraycopy(dy, plane(dyo, img0 + i, g.outC(), gi, cout, p) + co * p, buf, co * cols + i * p, p);
            }
        });
        return buf;
    }

    // ---------------------------------------------------------------- implicit im2col

    /**
     * The im2col matrix of one group over a chunk of images, without storing it: row r = (c·kh + i)·kw + j,
     * column q = image·P + oy·ow + ox holds x[image, c, oy·sh − padH + i·dilH, ox·sw − padW + j·dilW]
     * (0 outside the image). Read-only once built, so GEMM threads share it.
     */
    static final class Unfold {
        private final int h, w, oh, ow, p, sh, sw;
        /** 1×1, stride 1, no padding: a row of the column matrix is the channel plane itself, image after image. */
        private final boolean pointwise;
        /** Per row: channel plane offset, first input row/column of the tap, valid output-column range. */
        private final int[] chan, iy0, ix0, lo, hi;
        /** Per image of the chunk: offset of the group's first channel plane. */
        private final int[] imgBase;

        Unfold(ConvGeometry g, int off, int img0, int cnt, int gi) {
            h = g.h();
            w = g.w();
            oh = g.oh();
            ow = g.ow();
            p = oh * ow;
            sh = g.strideH();
            sw = g.strideW();
            pointwise = pointwise(g);
            int kh = g.kh(), kw = g.kw(), rows = g.inPerGroup() * kh * kw;
            chan = new int[rows];
            iy0 = new int[rows];
            ix0 = new int[rows];
            lo = new int[rows];
            hi = new int[rows];
            for (int r = 0; r < rows; r++) {
                int c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
                chan[r] = c * h * w;
                iy0[r] = i * g.dilationH() - g.padH();
                ix0[r] = j * g.dilationW() - g.padW();
                lo[r] = validLo(ix0[r], sw);
                hi[r] = validHi(ix0[r], sw, w, ow, lo[r]);
            }
            imgBase = new int[cnt];
            for (int i = 0; i < cnt; i++) imgBase[i] = plane(off, img0 + i, g.inC(), gi, g.inPerGroup(), h * w);
        }

        /** dst[dOff + t·ds] = col[r][q + t] for t &lt; len, walking output rows as contiguous segments. */
        void read(float[] x, int r, int q, int len, float[] dst, int dOff, int ds) {
            if (pointwise) {   // whole images are contiguous: no per-output-row segments
                int img = q / p, pos = q - img * p;
                for (int t = 0; t < len; ) {
                    int seg = Math.min(len - t, p - pos), s = imgBase[img] + chan[r] + pos, d = dOff + t * ds;
                    if (ds == 1) System.arraycopy(x, s, dst, d, seg);
                    else for (int u = 0; u < seg; u++) dst[d + u * ds] = x[s + u];
                    t += seg;
                    pos = 0;
                    img++;
                }
                return;
            }
            int cOff = chan[r], y0 = iy0[r], x0 = ix0[r], l = lo[r], hcol = hi[r];
            int img = q / p, pos = q - img * p, oy = pos / ow, ox = pos - oy * ow;
            for (int t = 0; t < len; ) {
                int seg = Math.min(len - t, ow - ox), d = dOff + t * ds, iy = oy * sh + y0;
                if (iy < 0 || iy >= h) {
                    for (int u = 0; u < seg; u++) dst[d + u * ds] = 0f;
                } else {
                    // Output columns [a, b) of this segment read the image; the rest are padding.
                    int s = imgBase[img] + cOff + iy * w + x0;
                    int a = Math.min(seg, Math.max(ox, l) - ox), b = Math.max(a, Math.min(ox + seg, hcol) - ox);
                    int u = 0;
                    for (; u < a; u++) dst[d + u * ds] = 0f;
                    if (ds == 1 && sw == 1) for (; u < b; u++) dst[d + u] = x[s + ox + u];
                    else for (; u < b; u++) dst[d + u * ds] = x[s + (ox + u) * sw];
                    for (; u < seg; u++) dst[d + u * ds] = 0f;
                }
                t += seg;
                ox += seg;
                if (ox == ow) {
                    ox = 0;
                    if (++oy == oh) {
                        oy = 0;
                        img++;
                    }
                }
            }
        }

        /** dx[position of col[r][q + t]] += col[cOff + t] for t &lt; len (padding taps are dropped). */
        void scatterAdd(int r, int q, int len, float[] col, int cOff, float[] dx) {
            int ch = chan[r], y0 = iy0[r], x0 = ix0[r], l = lo[r], hcol = hi[r];
            int img = q / p, pos = q - img * p, oy = pos / ow, ox = pos - oy * ow;
            for (int t = 0; t < len; ) {
                int seg = Math.min(len - t, ow - ox), iy = oy * sh + y0;
                if (iy >= 0 && iy < h) {
                    int s = imgBase[img] + ch + iy * w + x0, src = cOff + t;
                    int a = Math.max(ox, l) - ox, b = Math.min(ox + seg, hcol) - ox;
                    if (sw == 1) for (int u = a; u < b; u++) dx[s + ox + u] += col[src + u];
                    else for (int u = a; u < b; u++) dx[s + (ox + u) * sw] += col[src + u];
                }
                t += seg;
                ox += seg;
                if (ox == ow) {
                    ox = 0;
                    if (++oy == oh) {
                        oy = 0;
                        img++;
                    }
                }
            }
        }

        /** Sgemm B panels of the column matrix itself (k = rows, n = positions). */
        void panels(float[] x, int p0, int kc, int j0, int nc, float[] bp) {
            int nrFull = Sgemm.NR;
            if (pointwise) {
                for (int jr = 0; jr < nc; jr += nrFull) {
                    int nr = Math.min(nrFull, nc - jr), base = jr * kc;
                    for (int pp = 0; pp < kc; pp++) {
                        int dst = base + pp * nrFull;
                        read(x, p0 + pp, j0 + jr, nr, bp, dst, 1);
                        for (int t = nr; t < nrFull; t++) bp[dst + t] = 0f;
                    }
                }
                return;
            }
            // The panel's columns split into output-row segments once; every row of the panel reuses
            // them (read() would redo the divisions for each of the kc rows).
            int[] segImg = new int[nrFull + 1], segOy = new int[nrFull + 1], segOx = new int[nrFull + 1], segLen = new int[nrFull + 1];
            for (int jr = 0; jr < nc; jr += nrFull) {
                int nr = Math.min(nrFull, nc - jr), base = jr * kc, q = j0 + jr;
                int img = q / p, pos = q - img * p, oy = pos / ow, ox = pos - oy * ow, segs = 0;
                for (int t = 0; t < nr; segs++) {
                    int seg = Math.min(nr - t, ow - ox);
                    segImg[segs] = img;
                    segOy[segs] = oy;
                    segOx[segs] = ox;
                    segLen[segs] = seg;
                    t += seg;
                    ox += seg;
                    if (ox == ow) {
                        ox = 0;
                        if (++oy == oh) {
                            oy = 0;
                            img++;
                        }
                    }
                }
                for (int pp = 0; pp < kc; pp++) {
                    int r = p0 + pp, dst = base + pp * nrFull, cOff = chan[r], y0 = iy0[r], x0 = ix0[r], l = lo[r], hcol = hi[r];
                    int d = dst;
                    for (int sg = 0; sg < segs; sg++) {
                        int seg = segLen[sg], sx = segOx[sg], iy = segOy[sg] * sh + y0;
                        if (iy < 0 || iy >= h) {
                            for (int u = 0; u < seg; u++) bp[d + u] = 0f;
                        } else {
                            int src = imgBase[segImg[sg]] + cOff + iy * w + x0;
                            int a = Math.min(seg, Math.max(sx, l) - sx), b = Math.max(a, Math.min(sx + seg, hcol) - sx);
                            int u = 0;
                            for (; u < a; u++) bp[d + u] = 0f;
                            if (sw == 1) {
                                System.arraycopy(x, src + sx + a, bp, d + a, b - a);
                                u = b;
                            } else {
                                for (; u < b; u++) bp[d + u] = x[src + (sx + u) * sw];
                            }
                            for (; u < seg; u++) bp[d + u] = 0f;
                        }
                        d += seg;
                    }
                    for (int t = nr; t < nrFull; t++) bp[dst + t] = 0f;
                }
            }
        }

        /** Sgemm A panels of the column matrix itself (m = rows, k = positions): MR rows interleaved. */
        void rowPanels(float[] x, int i0, int mc, int p0, int kc, float[] ap) {
            int mr = Sgemm.MR;
            for (int ir = 0; ir < mc; ir += mr) {
                int rows = Math.min(mr, mc - ir), base = ir * kc;
                for (int r = 0; r < rows; r++) read(x, i0 + ir + r, p0, kc, ap, base + r, mr);
                for (int r = rows; r < mr; r++)
                    for (int pp = 0; pp < kc; pp++) ap[base + pp * mr + r] = 0f;
            }
        }

        /** Sgemm B panels of the transposed column matrix (k = positions, n = rows). */
        void transposedPanels(float[] x, int p0, int kc, int j0, int nc, float[] bp) {
            int nrFull = Sgemm.NR;
            for (int jr = 0; jr < nc; jr += nrFull) {
                int nr = Math.min(nrFull, nc - jr), base = jr * kc;
                for (int t = 0; t < nr; t++) read(x, j0 + jr + t, p0, kc, bp, base + t, nrFull);
                if (nr < nrFull)
                    for (int pp = 0; pp < kc; pp++) Arrays.fill(bp, base + pp * nrFull + nr, base + (pp + 1) * nrFull, 0f);
            }
        }
    }

    /** First output column whose input column ox·sw + ix0 is ≥ 0. */
    static int validLo(int ix0, int sw) {
        return ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
    }

    /** One past the last output column (&lt; ow) whose input column is &lt; w; at least lo. */
    static int validHi(int ix0, int sw, int w, int ow, int lo) {
        int hi = w - ix0 <= 0 ? 0 : Math.min(ow, (w - ix0 + sw - 1) / sw);
        return Math.max(hi, lo);
    }
}
