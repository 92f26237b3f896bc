package dev.graft.backend.cpu;

import dev.graft.GraftException;
import dev.graft.backend.PoolGeometry;
import java.util.Arrays;

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
            for (int p = p0; p < p1; p++) {
                int xb = xo + p * hw, yb = yo + p * ohw;
                for (int oy = 0; oy < g.oh(); oy++)
                    for (int ox = 0; ox < g.ow(); ox++)
                        y[yb + oy * g.ow() + ox] = x[xb + argmax(g, x, xb, oy, ox)];
            }
        });
    }

    static void maxBackward(PoolGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo) {
        int planes = g.n() * g.c(), hw = g.h() * g.w(), ohw = g.oh() * g.ow();
        Parallel.forRange(0, planes, planeGrain(ohw * g.kh() * g.kw()), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int xb = xo + p * hw, gb = dyo + p * ohw, ob = dxo + p * hw;
                Arrays.fill(dx, ob, ob + hw, 0f);
                for (int oy = 0; oy < g.oh(); oy++)
                    for (int ox = 0; ox < g.ow(); ox++)
                        dx[ob + argmax(g, x, xb, oy, ox)] += dy[gb + oy * g.ow() + ox];
            }
        });
    }

    /**
     * Index within the plane of the window's maximum: the first maximum in row-major window order,
     * or the last NaN (PyTorch: {@code val > max || isnan(val)}); padding never wins (−∞).
     */
    private static int argmax(PoolGeometry g, float[] x, int xb, int oy, int ox) {
        int w = g.w();
        int y0 = oy * g.strideH() - g.padH(), x0 = ox * g.strideW() - g.padW();
        int dh = g.dilationH(), dw = g.dilationW();
        int iStart, jStart, iEnd, jEnd;
        if (dh == 1 && dw == 1) {   // no divisions on the common path: this runs once per output element
            iStart = Math.max(0, -y0);
            jStart = Math.max(0, -x0);
            iEnd = Math.min(g.kh(), g.h() - y0);
            jEnd = Math.min(g.kw(), w - x0);
        } else {
            iStart = y0 < 0 ? (-y0 + dh - 1) / dh : 0;
            jStart = x0 < 0 ? (-x0 + dw - 1) / dw : 0;
            iEnd = Math.min(g.kh(), (g.h() - y0 + dh - 1) / dh);
            jEnd = Math.min(g.kw(), (w - x0 + dw - 1) / dw);
        }
        int best = (y0 + iStart * dh) * w + x0 + jStart * dw;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = iStart; i < iEnd; i++) {
            int row = (y0 + i * dh) * w + x0;
            for (int j = jStart; j < jEnd; j++) {
                int idx = row + j * dw;
                float v = x[xb + idx];
                // Selects rather than branches (C2 emits conditional moves): which element wins
                // is data-dependent and unpredictable.
                boolean take = v > max | v != v;
                max = take ? v : max;
                best = take ? idx : best;
            }
        }
        return best;
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
