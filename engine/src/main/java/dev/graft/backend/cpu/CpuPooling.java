package dev.graft.backend.cpu;

import dev.graft.GraftException;
import dev.graft.backend.PoolGeometry;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D max, average and adaptive average pooling over NCHW planes, following PyTorch's CPU kernels
 * (window clipping, divisors, tie-breaking). Planes are independent, so work is split over planes
 * and every plane is computed the same way whatever the thread count.
 */
final class CpuPooling {
    private CpuPooling() {}

    private static int planeGrain(int planeWork) {
        return Math.max(1, CpuBackend.GRAIN / Math.max(1, planeWork));
    }

    // ---------------------------------------------------------------- max

    static void maxForward(PoolGeometry g, float[] x, int xo, float[] y, int yo) {
        int planes = g.n() * g.c(), hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        Parallel.forRange(0, planes, planeGrain(ohw * g.kh() * g.kw()), (p0, p1) -> {
            for (int p = p0; p < p1; p++) maxPlane(g, x, xo + p * hw, null, 0, y, yo + p * ohw);
        });
    }

    static void maxBackward(PoolGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo) {
        int planes = g.n() * g.c(), hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        Parallel.forRange(0, planes, planeGrain(ohw * g.kh() * g.kw()), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int ob = dxo + p * hw;
                Arrays.fill(dx, ob, ob + hw, 0f);
                maxPlane(g, x, xo + p * hw, dy, dyo + p * ohw, dx, ob);
            }
        });
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, S.vectorShape());
    private static final int L = S.length();
    /** Per stride s (index s): lane offsets 0, s, 2s, … for gathering every s-th element. */
    private static final int[][] LANE_STEPS = new int[9][];

    private static int[] laneSteps(int stride) {
        if (stride < LANE_STEPS.length && LANE_STEPS[stride] != null) return LANE_STEPS[stride];
        int[] m = new int[L];
        for (int l = 0; l < L; l++) m[l] = l * stride;
        if (stride < LANE_STEPS.length) LANE_STEPS[stride] = m;
        return m;
    }

    /**
     * One plane of max pooling. Forward (dy null): out[o] = the window's maximum. Backward:
     * out[argmax] += dy[o]. The argmax is the first maximum in row-major window order, or the last
     * NaN (PyTorch: {@code val > max || isnan(val)}); padding never wins (−∞).
     *
     * <p>Windows that lie inside the plane are done L output columns at a time in vector lanes
     * (each lane runs exactly the scalar update sequence, so ties and NaN resolve identically):
     * scalar code would need a float select per element, which C2 turns into unpredictable branches
     * or long NaN-safe Math.max chains. Windows that touch the border use the scalar loop.
     */
    private static void maxPlane(PoolGeometry g, float[] x, int xb, float[] dy, int gb, float[] out, int ob) {
        int w = g.w(), h = g.h(), kh = g.kh(), kw = g.kw(), sh = g.strideH(), sw = g.strideW();
        int dh = g.dilationH(), dw = g.dilationW(), oh = g.oh(), ow = g.ow(), padH = g.padH(), padW = g.padW();
        // Output columns whose windows lie inside the row: x0 ≥ 0 and x0 + (kw−1)·dw < w.
        int oxLo = Math.min(ow, Math.ceilDiv(padW, sw));
        int oxHi = Math.max(oxLo, Math.min(ow, Math.floorDiv(w - 1 - (kw - 1) * dw + padW, sw) + 1));
        int[] steps = laneSteps(sw);
        int[] bv = new int[L];
        boolean halves = sw == 2 && dw == 1 && oxHi - oxLo >= L;
        int hs = (w + 1) / 2 + 2 * L;
        float[] split = halves ? splitColumns(x, xb, h, w, hs) : null;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * sh - padH;
            int iStart = y0 < 0 ? (-y0 + dh - 1) / dh : 0, iEnd = Math.min(kh, (h - y0 + dh - 1) / dh);
            boolean rowInside = iStart == 0 && iEnd == kh;
            int ox = 0;
            if (rowInside) {
                // Border columns first: gradients then add up in row-major window order, as in the reference.
                scalarColumns(g, x, xb, dy, gb, out, ob, oy, y0, iStart, iEnd, 0, oxLo);
                ox = oxLo;
                // With stride 2 the rows are split into even and odd columns (once per plane), so the
                // window's taps are contiguous loads instead of gathers; the last columns take a
                // partial vector (lanes < n).
                for (; ox < oxHi && (split != null || ox + L <= oxHi); ox += L) {
                    int n = Math.min(L, oxHi - ox);
                    FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                    IntVector best = IntVector.broadcast(IS, y0 * w + ox * sw - padW).add(IntVector.fromArray(IS, steps, 0));
                    for (int i = 0; i < kh; i++) {
                        for (int j = 0; j < kw; j++) {
                            int idx = (y0 + i * dh) * w + ox * sw - padW + j * dw;
                            FloatVector v;
                            if (split != null) {
                                int q = j - padW;   // column 2·(ox + l) + q: parity q mod 2, offset ⌊q/2⌋
                                v = FloatVector.fromArray(S, split, (y0 + i * dh) * 2 * hs + (q & 1) * hs + ox + (q >> 1));
                            } else {
                                v = sw == 1 ? FloatVector.fromArray(S, x, xb + idx) : FloatVector.fromArray(S, x, xb + idx, steps, 0);
                            }
                            VectorMask<Float> take = v.compare(VectorOperators.GT, m).or(v.test(VectorOperators.IS_NAN));
                            m = m.blend(v, take);
                            best = best.blend(IntVector.broadcast(IS, idx).add(IntVector.fromArray(IS, steps, 0)), take.cast(IS));
                        }
                    }
                    int o = oy * ow + ox;
                    if (dy == null) {
                        if (n == L) m.intoArray(out, ob + o);
                        else m.intoArray(out, ob + o, Sgemm.firstLanes(n));
                    } else {
                        best.intoArray(bv, 0);
                        for (int l = 0; l < n; l++) out[ob + bv[l]] += dy[gb + o + l];
                    }
                }
                ox = Math.min(ox, oxHi);
            }
            scalarColumns(g, x, xb, dy, gb, out, ob, oy, y0, iStart, iEnd, ox, ow);
        }
    }

    /** Per-thread buffer of {@link #splitColumns}. */
    private static final ThreadLocal<float[][]> SPLIT = ThreadLocal.withInitial(() -> new float[1][]);
    private static final VectorMask<Float> EVEN = VectorMask.fromLong(S, 0x5555_5555_5555_5555L);
    private static final VectorMask<Float> ODD = VectorMask.fromLong(S, 0xAAAA_AAAA_AAAA_AAAAL);

    /**
     * The plane's rows split into even columns (at {@code r·2·hs}) and odd columns (at
     * {@code r·2·hs + hs}), in a per-thread buffer; the slack after each half absorbs whole-vector
     * stores and loads.
     */
    private static float[] splitColumns(float[] x, int xb, int h, int w, int hs) {
        float[][] slot = SPLIT.get();
        if (slot[0] == null || slot[0].length < h * 2 * hs) slot[0] = new float[h * 2 * hs];
        float[] sp = slot[0];
        for (int r = 0; r < h; r++) {
            int src = xb + r * w, e = r * 2 * hs, o = e + hs, c = 0;
            for (; c + 2 * L <= w; c += 2 * L) {
                FloatVector a = FloatVector.fromArray(S, x, src + c), b = FloatVector.fromArray(S, x, src + c + L);
                a.compress(EVEN).intoArray(sp, e + c / 2);
                b.compress(EVEN).intoArray(sp, e + c / 2 + L / 2);
                a.compress(ODD).intoArray(sp, o + c / 2);
                b.compress(ODD).intoArray(sp, o + c / 2 + L / 2);
            }
            for (; c < w; c++) sp[((c & 1) == 0 ? e : o) + c / 2] = x[src + c];
        }
        return sp;
    }

    /** Output columns [ox0, ox1) of output row oy, one window at a time. */
    private static void scalarColumns(PoolGeometry g, float[] x, int xb, float[] dy, int gb, float[] out, int ob,
                                      int oy, int y0, int iStart, int iEnd, int ox0, int ox1) {
        int w = g.w(), kw = g.kw(), sw = g.strideW(), dh = g.dilationH(), dw = g.dilationW(), ow = g.ow(), padW = g.padW();
        for (int ox = ox0; ox < ox1; ox++) {
            int x0 = ox * sw - padW;
            int jStart = x0 < 0 ? (-x0 + dw - 1) / dw : 0, jEnd = Math.min(kw, (w - x0 + dw - 1) / dw);
            int best = (y0 + iStart * dh) * w + x0 + jStart * dw;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = iStart; i < iEnd; i++) {
                int row = (y0 + i * dh) * w + x0;
                for (int j = jStart; j < jEnd; j++) {
                    int idx = row + j * dw;
                    float v = x[xb + idx];
                    if (v > max || Float.isNaN(v)) {
                        max = v;
                        best = idx;
                    }
                }
            }
            if (dy == null) out[ob + oy * ow + ox] = max;
            else out[ob + best] += dy[gb + oy * ow + ox];
        }
    }

    // ---------------------------------------------------------------- average

    private static void checkAvg(PoolGeometry g) {
        if (g.dilationH() != 1 || g.dilationW() != 1)
            throw new GraftException("avg_pool2d does not support dilation (got " + g.dilationH() + "x" + g.dilationW() + ")");
    }

    /**
     * PyTorch's window for output (oy, ox): the divisor with count_include_pad is the window size
     * clipped to the padded input ({@code min(start + k, in + pad)}) before it is clipped to the
     * real input; without it, the number of real positions. Returns {y0, y1, x0, x1, divisor}.
     */
    private static void window(PoolGeometry g, int oy, int ox, int[] win) {
        int y0 = oy * g.strideH() - g.padH(), x0 = ox * g.strideW() - g.padW();
        int y1 = Math.min(y0 + g.kh(), g.h() + g.padH()), x1 = Math.min(x0 + g.kw(), g.w() + g.padW());
        int poolSize = (y1 - y0) * (x1 - x0);
        y0 = Math.max(y0, 0);
        x0 = Math.max(x0, 0);
        y1 = Math.min(y1, g.h());
        x1 = Math.min(x1, g.w());
        win[0] = y0;
        win[1] = y1;
        win[2] = x0;
        win[3] = x1;
        win[4] = g.countIncludePad() ? poolSize : (y1 - y0) * (x1 - x0);
    }

    static void avgForward(PoolGeometry g, float[] x, int xo, float[] y, int yo) {
        checkAvg(g);
        int planes = g.n() * g.c(), w = g.w(), hw = g.h() * w, ohw = g.oh() * g.ow();
        Parallel.forRange(0, planes, planeGrain(ohw * g.kh() * g.kw()), (p0, p1) -> {
            int[] win = new int[5];
            for (int p = p0; p < p1; p++) {
                int xb = xo + p * hw, yb = yo + p * ohw;
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        window(g, oy, ox, win);
                        float out = 0f;
                        if (win[0] < win[1] && win[2] < win[3]) {
                            float s = 0f;
                            for (int iy = win[0]; iy < win[1]; iy++)
                                for (int ix = win[2]; ix < win[3]; ix++) s += x[xb + iy * w + ix];
                            out = s / win[4];
                        }
                        y[yb + oy * g.ow() + ox] = out;
                    }
                }
            }
        });
    }

    static void avgBackward(PoolGeometry g, float[] dy, int dyo, float[] dx, int dxo) {
        checkAvg(g);
        int planes = g.n() * g.c(), w = g.w(), hw = g.h() * w, ohw = g.oh() * g.ow();
        Parallel.forRange(0, planes, planeGrain(ohw * g.kh() * g.kw()), (p0, p1) -> {
            int[] win = new int[5];
            for (int p = p0; p < p1; p++) {
                int gb = dyo + p * ohw, ob = dxo + p * hw;
                Arrays.fill(dx, ob, ob + hw, 0f);
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        window(g, oy, ox, win);
                        if (win[0] >= win[1] || win[2] >= win[3]) continue;
                        float v = dy[gb + oy * g.ow() + ox] / win[4];
                        for (int iy = win[0]; iy < win[1]; iy++)
                            for (int ix = win[2]; ix < win[3]; ix++) dx[ob + iy * w + ix] += v;
                    }
                }
            }
        });
    }

    // ---------------------------------------------------------------- adaptive average

    private static int start(int i, int in, int out) {
        return (int) Math.floorDiv((long) i * in, out);
    }

    private static int end(int i, int in, int out) {
        return (int) Math.ceilDiv((long) (i + 1) * in, out);
    }

    static void adaptiveForward(int planes, int h, int w, int oh, int ow, float[] x, int xo, float[] y, int yo) {
        int hw = h * w, ohw = oh * ow;
        Parallel.forRange(0, planes, planeGrain(Math.max(hw, ohw)), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int xb = xo + p * hw, yb = yo + p * ohw;
                for (int i = 0; i < oh; i++) {
                    int y0 = start(i, h, oh), y1 = end(i, h, oh);
                    for (int j = 0; j < ow; j++) {
                        int x0 = start(j, w, ow), x1 = end(j, w, ow);
                        double s = 0;
                        for (int iy = y0; iy < y1; iy++)
                            for (int ix = x0; ix < x1; ix++) s += x[xb + iy * w + ix];
                        y[yb + i * ow + j] = (float) (s / ((y1 - y0) * (x1 - x0)));
                    }
                }
            }
        });
    }

    static void adaptiveBackward(int planes, int h, int w, int oh, int ow, float[] dy, int dyo, float[] dx, int dxo) {
        int hw = h * w, ohw = oh * ow;
        Parallel.forRange(0, planes, planeGrain(Math.max(hw, ohw)), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int gb = dyo + p * ohw, ob = dxo + p * hw;
                Arrays.fill(dx, ob, ob + hw, 0f);
                for (int i = 0; i < oh; i++) {
                    int y0 = start(i, h, oh), y1 = end(i, h, oh);
                    for (int j = 0; j < ow; j++) {
                        int x0 = start(j, w, ow), x1 = end(j, w, ow);
                        float v = dy[gb + i * ow + j] / ((y1 - y0) * (x1 - x0));
                        for (int iy = y0; iy < y1; iy++)
                            for (int ix = x0; ix < x1; ix++) dx[ob + iy * w + ix] += v;
                    }
                }
            }
        });
    }
}
