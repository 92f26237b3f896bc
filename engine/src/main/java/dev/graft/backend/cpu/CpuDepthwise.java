package dev.graft.backend.cpu;

import dev.graft.backend.ConvGeometry;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Depthwise convolution (groups = inC = outC) by direct vector loops: each output plane is one
 * input plane filtered by kh·kw taps, which im2col would unfold into a GEMM with k = kh·kw and no
 * reuse.
 *
 * <p>Each input plane is first copied into a zero-padded buffer split into {@code strideW} column
 * phases (phase q holds padded columns q, q + sw, q + 2sw, …). Tap (i, j) of output column ox then
 * reads phase (j·dilW) mod sw at column ox + (j·dilW) / sw, so for every stride the taps are
 * contiguous full-vector loads with no bounds tests; rows past the plane are slack. The inner
 * kernel ({@link #plane}) runs four output rows at once so that four FMA chains are in flight.
 *
 * <p>The data gradient reuses that kernel: with stride 1 it is a depthwise convolution of dy with
 * the flipped kernel; with larger strides each input phase (iy mod sh, ix mod sw) is a stride-1
 * correlation of dy with the taps that reach it (polyphase decomposition, no multiplications by
 * inserted zeros).
 *
 * <p>Forward and data gradient split over (image, channel) planes, the weight gradient over
 * channels (each thread sums its channels over all images in order).
 */
final class CpuDepthwise {
    private CpuDepthwise() {}

    private static final VectorSpecies<Float> S = Sgemm.S;
    private static final int L = S.length();

    /** Per-thread buffers: 0 padded/phase-split plane, 1 padded dy plane, 2 one phase of dx. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][]);

    private static float[] scratch(int slot, int size) {
        float[][] s = SCRATCH.get();
        if (s[slot] == null || s[slot].length < size) s[slot] = new float[Math.max(size, 1024)];
        return s[slot];
    }

    private static int planeGrain(ConvGeometry g) {
        return Math.max(1, CpuBackend.GRAIN / Math.max(1, g.oh() * g.ow() * g.kh() * g.kw()));
    }

    /** Layout of the padded, phase-split copy of one input plane. */
    private record Phases(int hp, int wq) {
        static Phases of(ConvGeometry g) {
            int maxOff = (g.kw() - 1) * g.dilationW() / g.strideW();
            return new Phases(g.h() + 2 * g.padH(), g.ow() + maxOff + L);
        }

        int size(ConvGeometry g) { return g.strideW() * hp * wq; }

        /** Start of padded row r in the phase of tap offset t = j·dilW. */
        int row(ConvGeometry g, int t, int r) {
            return ((t % g.strideW()) * hp + r) * wq + t / g.strideW();
        }

        /** Per kernel column j: where tap j starts relative to a padded row (row r adds r·wq). */
        int[] tapOffsets(ConvGeometry g) {
            int[] off = new int[g.kw()];
            for (int j = 0; j < off.length; j++) off[j] = row(g, j * g.dilationW(), 0);
            return off;
        }
    }

    /** Copies plane xb into buf as zero-padded column phases (see the class comment). */
    private static void fillPhases(ConvGeometry g, Phases ph, float[] x, int xb, float[] buf) {
        int sw = g.strideW(), w = g.w(), padW = g.padW(), padH = g.padH(), hp = ph.hp(), wq = ph.wq();
        for (int q = 0; q < sw; q++) {
            int base = q * hp * wq;
            // Phase column c holds padded column c·sw + q, i.e. input column c·sw + q − padW.
            int cLo = Math.max(0, Math.ceilDiv(padW - q, sw)), cHi = Math.max(cLo, Math.min(wq, Math.ceilDiv(w + padW - q, sw)));
            Arrays.fill(buf, base, base + padH * wq, 0f);                              // top padding rows
            Arrays.fill(buf, base + (padH + g.h()) * wq, base + hp * wq, 0f);          // bottom padding rows
            // Rows are short: vector loops here, since arraycopy/fill stub calls cost more than the copying.
            for (int iy = 0; iy < g.h(); iy++) {
                int dst = base + (iy + padH) * wq, src = xb + iy * w + q - padW;
                for (int c = 0; c < cLo; c++) buf[dst + c] = 0f;
                if (sw == 1) copy(x, src + cLo, buf, dst + cLo, cHi - cLo);
                else if (sw == 2) gather2(x, src, buf, dst, cLo, cHi, xb + (iy + 1) * w);
                else for (int c = cLo; c < cHi; c++) buf[dst + c] = x[src + c * sw];
                zero(buf, dst + cHi, wq - cHi);
            }
        }
    }

    /** dst[d .. d+n) = src[s .. s+n). */
    private static void copy(float[] src, int s, float[] dst, int d, int n) {
        int i = 0;
        for (; i + L <= n; i += L) FloatVector.fromArray(S, src, s + i).intoArray(dst, d + i);
        if (i < n) {
            VectorMask<Float> m = Sgemm.firstLanes(n - i);
            FloatVector.fromArray(S, src, s + i, m).intoArray(dst, d + i, m);
        }
    }

    /** a[d .. d+n) = 0. */
    private static void zero(float[] a, int d, int n) {
        FloatVector z = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= n; i += L) z.intoArray(a, d + i);
        if (i < n) z.intoArray(a, d + i, Sgemm.firstLanes(n - i));
    }

    /** Lane i of the result takes lane 2i of the concatenation of two vectors. */
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> 2 * i);

    /** buf[dst + c] = x[src + 2c] for lo ≤ c &lt; hi, reading x only below rowEnd (a stride-2 phase). */
    private static void gather2(float[] x, int src, float[] buf, int dst, int lo, int hi, int rowEnd) {
        int c = lo;
        for (; c + L <= hi && src + 2 * (c + L) <= rowEnd; c += L) {
            int s = src + 2 * c;
            FloatVector.fromArray(S, x, s).rearrange(EVEN, FloatVector.fromArray(S, x, s + L)).intoArray(buf, dst + c);
        }
        for (; c < hi; c++) buf[dst + c] = x[src + 2 * c];
    }

    // ---------------------------------------------------------------- forward

    static void forward(ConvGeometry g, float[] x, int xo, float[] w, int wo, float[] bias, int bo, float[] y, int yo) {
        int c = g.inC(), hw = g.h() * g.w(), ohw = g.oh() * g.ow(), kk = g.kh() * g.kw();
        Phases ph = Phases.of(g);
        int[] taps = allTaps(g, ph);
        Parallel.forRange(0, g.n() * c, planeGrain(g), (p0, p1) -> {
            float[] buf = scratch(0, ph.size(g));
            for (int p = p0; p < p1; p++) {
                int ch = p % c;
                fillPhases(g, ph, x, xo + p * hw, buf);
                plane(g.oh(), g.ow(), g.strideH() * ph.wq(), taps, buf, w, wo + ch * kk, bias == null ? 0f : bias[bo + ch], y, yo + p * ohw);
            }
        });
    }

    /**
     * Offsets of the kh·kw taps relative to a padded row start, in (i, j) order (row r adds r·wq).
     */
    private static int[] allTaps(ConvGeometry g, Phases ph) {
        int[] tap = ph.tapOffsets(g), all = new int[g.kh() * g.kw()];
        for (int i = 0; i < g.kh(); i++)
            for (int j = 0; j < g.kw(); j++) all[i * g.kw() + j] = i * g.dilationH() * ph.wq() + tap[j];
        return all;
    }

    /**
     * One output plane (oh×ow) y[oy, ox] = b + Σ_t w[wb + t] · buf[oy·rs + ox + taps[t]], with FMA in
     * tap order; buf rows must have L floats of slack past the last column read.
     * Four output rows go together so that four independent FMA chains hide the FMA latency and
     * each weight broadcast serves four rows. Masked edge columns live in {@link #planeTail}: big
     * Vector API methods can exhaust C1's registers, and a method stuck in C1 runs 20× slower.
     */
    private static void plane(int oh, int ow, int rs, int[] taps, float[] buf, float[] w, int wb, float b, float[] y, int yb) {
        int kk = taps.length, full = ow - ow % L;
        int oy = 0;
        for (; oy + 3 < oh; oy += 4) {
            int yr = yb + oy * ow;
            for (int ox = 0; ox < full; ox += L) {
                FloatVector a0 = FloatVector.broadcast(S, b), a1 = a0, a2 = a0, a3 = a0;
                int base = oy * rs + ox;
                for (int t = 0; t < kk; t++) {
                    FloatVector wv = FloatVector.broadcast(S, w[wb + t]);
                    int o = base + taps[t];
                    a0 = FloatVector.fromArray(S, buf, o).fma(wv, a0);
                    a1 = FloatVector.fromArray(S, buf, o + rs).fma(wv, a1);
                    a2 = FloatVector.fromArray(S, buf, o + 2 * rs).fma(wv, a2);
                    a3 = FloatVector.fromArray(S, buf, o + 3 * rs).fma(wv, a3);
                }
                a0.intoArray(y, yr + ox);
                a1.intoArray(y, yr + ow + ox);
                a2.intoArray(y, yr + 2 * ow + ox);
                a3.intoArray(y, yr + 3 * ow + ox);
            }
        }
        for (; oy < oh; oy++) {
            int yr = yb + oy * ow;
            for (int ox = 0; ox < full; ox += L) {
                FloatVector a0 = FloatVector.broadcast(S, b);
                int base = oy * rs + ox;
                for (int t = 0; t < kk; t++)
                    a0 = FloatVector.fromArray(S, buf, base + taps[t]).fma(FloatVector.broadcast(S, w[wb + t]), a0);
                a0.intoArray(y, yr + ox);
            }
        }
        if (full < ow) planeTail(oh, ow, full, rs, taps, buf, w, wb, b, y, yb);
    }

    /** Columns full … ow−1 of every row of {@link #plane} (same arithmetic, masked stores, 4 rows at a time). */
    private static void planeTail(int oh, int ow, int full, int rs, int[] taps, float[] buf, float[] w, int wb, float b,
                                  float[] y, int yb) {
        VectorMask<Float> m = Sgemm.firstLanes(ow - full);
        int oy = 0;
        for (; oy + 3 < oh; oy += 4) {
            FloatVector a0 = FloatVector.broadcast(S, b), a1 = a0, a2 = a0, a3 = a0;
            int base = oy * rs + full;
            for (int t = 0; t < taps.length; t++) {
                FloatVector wv = FloatVector.broadcast(S, w[wb + t]);
                int o = base + taps[t];
                a0 = FloatVector.fromArray(S, buf, o).fma(wv, a0);
                a1 = FloatVector.fromArray(S, buf, o + rs).fma(wv, a1);
                a2 = FloatVector.fromArray(S, buf, o + 2 * rs).fma(wv, a2);
                a3 = FloatVector.fromArray(S, buf, o + 3 * rs).fma(wv, a3);
            }
            int yr = yb + oy * ow + full;
            a0.intoArray(y, yr, m);
            a1.intoArray(y, yr + ow, m);
            a2.intoArray(y, yr + 2 * ow, m);
            a3.intoArray(y, yr + 3 * ow, m);
        }
        for (; oy < oh; oy++) {
            FloatVector a0 = FloatVector.broadcast(S, b);
            int base = oy * rs + full;
            for (int t = 0; t < taps.length; t++)
                a0 = FloatVector.fromArray(S, buf, base + taps[t]).fma(FloatVector.broadcast(S, w[wb + t]), a0);
            a0.intoArray(y, yb + oy * ow + full, m);
        }
    }

    // ---------------------------------------------------------------- backward data

    static void backwardData(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        if (g.strideH() == 1 && g.strideW() == 1 && g.padH() <= g.dilationH() * (g.kh() - 1)
                && g.padW() <= g.dilationW() * (g.kw() - 1)) {
            transposedStride1(g, dy, dyo, w, wo, dx, dxo);
            return;
        }
        polyphaseData(g, dy, dyo, w, wo, dx, dxo);
    }

    /**
     * The data gradient for any stride, split by the phase (iy mod sh, ix mod sw) of the input
     * position: each phase is a stride-1 correlation of dy with the taps that reach it, tap (i, j)
     * at dy offset ((qy + padH − i·dilH) / sh, (qx + padW − j·dilW) / sw) when both divide exactly.
     * Each phase runs through {@link #plane} on a zero-margined copy of dy, then is interleaved
     * into dx; together the phases cover dx exactly once.
     */
    private static void polyphaseData(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        int c = g.inC(), h = g.h(), wd = g.w(), oh = g.oh(), ow = g.ow(), kh = g.kh(), kw = g.kw();
        int sh = g.strideH(), sw = g.strideW(), dh = g.dilationH(), dwl = g.dilationW(), padH = g.padH(), padW = g.padW();
        // Margins: offsets reach back (kh−1)·dilH/sh rows and forward (sh−1+padH)/sh rows past a phase's last row.
        int top = Math.ceilDiv((kh - 1) * dh, sh) + 1, left = Math.ceilDiv((kw - 1) * dwl, sw) + 1;
        int phH = Math.ceilDiv(h, sh), phW = Math.ceilDiv(wd, sw);
        int rows = top + Math.max(oh, phH + (sh - 1 + padH) / sh) + 1;
        int rw = left + Math.max(ow, phW + (sw - 1 + padW) / sw) + L + 1;
        // Per phase: the taps (buffer offsets) and their kernel indices.
        int phases = sh * sw;
        int[][] tapOff = new int[phases][], tapIdx = new int[phases][];
        for (int qy = 0; qy < sh; qy++) {
            for (int qx = 0; qx < sw; qx++) {
                int[] off = new int[kh * kw], idx = new int[kh * kw];
                int nt = 0;
                for (int i = 0; i < kh; i++) {
                    int ty = qy + padH - i * dh;
                    if (Math.floorMod(ty, sh) != 0) continue;
                    for (int j = 0; j < kw; j++) {
                        int tx = qx + padW - j * dwl;
                        if (Math.floorMod(tx, sw) != 0) continue;
                        off[nt] = (Math.floorDiv(ty, sh) + top) * rw + Math.floorDiv(tx, sw) + left;
                        idx[nt++] = i * kw + j;
                    }
                }
                tapOff[qy * sw + qx] = Arrays.copyOf(off, nt);
                tapIdx[qy * sw + qx] = Arrays.copyOf(idx, nt);
            }
        }
        Parallel.forRange(0, g.n() * c, planeGrain(g), (p0, p1) -> {
            float[] pad = scratch(1, rows * rw + L), out = scratch(2, phH * phW + L);
            float[] wsub = new float[kh * kw];
            for (int p = p0; p < p1; p++) {
                int ch = p % c, xb = dxo + p * h * wd, wb = wo + ch * kh * kw;
                Arrays.fill(pad, 0, rows * rw, 0f);
                for (int oy = 0; oy < oh; oy++) copy(dy, dyo + p * oh * ow + oy * ow, pad, (oy + top) * rw + left, ow);
                for (int qy = 0; qy < sh && qy < h; qy++) {
                    for (int qx = 0; qx < sw && qx < wd; qx++) {
                        int q = qy * sw + qx, nh = Math.ceilDiv(h - qy, sh), nw = Math.ceilDiv(wd - qx, sw);
                        int[] idx = tapIdx[q];
                        for (int t = 0; t < idx.length; t++) wsub[t] = w[wb + idx[t]];
                        if (idx.length == 0) Arrays.fill(out, 0, nh * nw, 0f);
                        else plane(nh, nw, rw, tapOff[q], pad, wsub, 0, 0f, out, 0);
                        for (int a = 0; a < nh; a++) {
                            int d = xb + (a * sh + qy) * wd + qx, s = a * nw;
                            for (int b = 0; b < nw; b++) dx[d + b * sw] = out[s + b];
                        }
                    }
                }
            }
        });
    }

    /**
     * With stride 1 the data gradient is itself a depthwise convolution: dy (zero-padded by
     * dil·(k − 1) − pad) correlated with the spatially flipped kernel, which yields exactly h×w.
     */
    private static void transposedStride1(ConvGeometry g, float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo) {
        int c = g.inC(), kh = g.kh(), kw = g.kw(), kk = kh * kw;
        ConvGeometry t = new ConvGeometry(g.n(), c, g.oh(), g.ow(), c, kh, kw, 1, 1,
                g.dilationH() * (kh - 1) - g.padH(), g.dilationW() * (kw - 1) - g.padW(),
                g.dilationH(), g.dilationW(), c, g.h(), g.w());
        float[] flipped = new float[c * kk];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    flipped[ch * kk + i * kw + j] = w[wo + ch * kk + (kh - 1 - i) * kw + (kw - 1 - j)];
        forward(t, dy, dyo, flipped, 0, null, 0, dx, dxo);
    }

    // ---------------------------------------------------------------- backward weight

    /** dW[c, i, j] = Σ over images and output positions of dy·x: float vector dots per image, summed in double. */
    static void backwardWeight(ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo) {
        int c = g.inC(), hw = g.h() * g.w(), oh = g.oh(), ow = g.ow(), kh = g.kh(), kw = g.kw(), n = g.n();
        Phases ph = Phases.of(g);
        int[] taps = allTaps(g, ph);
        int rs = g.strideH() * ph.wq();
        int grain = Math.max(1, CpuBackend.GRAIN / Math.max(1, n * oh * ow * kh * kw));
        Parallel.forRange(0, c, grain, (c0, c1) -> {
            float[] buf = scratch(0, ph.size(g));
            double[] acc = new double[kh * kw];
            float[] lanes = new float[L];
            for (int ch = c0; ch < c1; ch++) {
                Arrays.fill(acc, 0);
                for (int b = 0; b < n; b++) {
                    int p = b * c + ch, yb = dyo + p * oh * ow;
                    fillPhases(g, ph, x, xo + p * hw, buf);
                    for (int t = 0; t < kh * kw; t++) acc[t] += dot(buf, taps[t], rs, dy, yb, oh, ow, lanes);
                }
                for (int t = 0; t < kh * kw; t++) dw[dwo + ch * kh * kw + t] = (float) acc[t];
            }
        });
    }

    /**
     * Σ over output rows and columns of dy[oy, ox] · buf[xo + oy·rs + ox]: four rows at a time into
     * four accumulators (independent FMA chains), edge columns in {@link #dotTail}, all combined in
     * a fixed order.
     */
    private static double dot(float[] buf, int xo, int rs, float[] dy, int yb, int oh, int ow, float[] lanes) {
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        int full = ow - ow % L, oy = 0;
        for (; oy + 3 < oh; oy += 4) {
            int xr = xo + oy * rs, yr = yb + oy * ow;
            for (int ox = 0; ox < full; ox += L) {
                s0 = FloatVector.fromArray(S, buf, xr + ox).fma(FloatVector.fromArray(S, dy, yr + ox), s0);
                s1 = FloatVector.fromArray(S, buf, xr + rs + ox).fma(FloatVector.fromArray(S, dy, yr + ow + ox), s1);
                s2 = FloatVector.fromArray(S, buf, xr + 2 * rs + ox).fma(FloatVector.fromArray(S, dy, yr + 2 * ow + ox), s2);
                s3 = FloatVector.fromArray(S, buf, xr + 3 * rs + ox).fma(FloatVector.fromArray(S, dy, yr + 3 * ow + ox), s3);
            }
        }
        for (; oy < oh; oy++) {
            int xr = xo + oy * rs, yr = yb + oy * ow;
            for (int ox = 0; ox < full; ox += L)
                s0 = FloatVector.fromArray(S, buf, xr + ox).fma(FloatVector.fromArray(S, dy, yr + ox), s0);
        }
        double sum = sumLanes(s0.add(s1).add(s2.add(s3)), lanes);
        return full < ow ? sum + dotTail(buf, xo, rs, dy, yb, oh, ow, full, lanes) : sum;
    }

    /** Columns full … ow−1 of {@link #dot}. */
    private static double dotTail(float[] buf, int xo, int rs, float[] dy, int yb, int oh, int ow, int full, float[] lanes) {
        VectorMask<Float> m = Sgemm.firstLanes(ow - full);
        FloatVector s = FloatVector.zero(S);
        for (int oy = 0; oy < oh; oy++)
            s = FloatVector.fromArray(S, buf, xo + oy * rs + full, m).fma(FloatVector.fromArray(S, dy, yb + oy * ow + full, m), s);
        return sumLanes(s, lanes);
    }

    /**
     * The lanes' sum in lane order. Not {@code reduceLanes(ADD)}: its order of additions is left to
     * the implementation and differs between the JIT's intrinsic and the interpreter's fallback, so
     * results would depend on when the method gets compiled, and two identical runs would differ.
     */
    private static float sumLanes(FloatVector v, float[] lanes) {
        v.intoArray(lanes, 0);
        float sum = 0f;
        for (int i = 0; i < L; i++) sum += lanes[i];
        return sum;
    }
}
