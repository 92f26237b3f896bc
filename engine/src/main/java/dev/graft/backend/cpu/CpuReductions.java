package dev.graft.backend.cpu;

import java.util.Arrays;

/**
 * Sum and softmax. Sums accumulate in double, in a fixed order: a full reduction adds fixed-size
 * blocks (independent of the thread count) and then the block sums in order; a partial reduction
 * splits the work over kept output elements only, so each output sees x in row-major order.
 */
final class CpuReductions {
    private CpuReductions() {}

    /** Full reductions add blocks of this many elements, then the blocks in order. */
    private static final int BLOCK = 1 << 14;

    static void sum(int[] shape, float[] x, int xo, int[] outStrides, float[] out, int oo, int outNumel) {
        Arrays.fill(out, oo, oo + outNumel, 0f);
        int total = 1;
        for (int d : shape) total *= d;
        if (total == 0) return;
        int[][] co = dev.graft.tensor.Shapes.coalesce(shape, dev.graft.tensor.Shapes.contiguousStrides(shape), outStrides);
        int[] sh = co[0], xs = co[1], os = co[2];
        int rank = sh.length;
        boolean full = true;
        for (int s : os) full &= s == 0;
        if (full) {
            out[oo] = (float) sumAll(x, xo, total);
            return;
        }
        // Partial reduction into a double accumulator covering the output positions.
        int span = 1;
        for (int d = 0; d < rank; d++) span += (sh[d] - 1) * os[d];
        double[] acc = new double[span];
        // Split over the largest kept dimension: threads write disjoint outputs, each in x order.
        int split = -1;
        for (int d = 0; d < rank; d++) if (os[d] != 0 && (split < 0 || sh[d] > sh[split])) split = d;
        int sd = split;
        long work = total;
        int grain = (int) Math.max(1, sh[sd] * (long) CpuBackend.GRAIN / work);
        Parallel.forRange(0, sh[sd], grain, (s, e) -> {
            int[] lo = new int[rank], hi = sh.clone();
            lo[sd] = s;
            hi[sd] = e;
            accumulate(sh, lo, hi, x, xo, xs, acc, os);
        });
        for (int i = 0; i < span; i++) out[oo + i] = (float) acc[i];
    }

    /** acc[i·os] += x[xo + i·xs] for every index i with lo ≤ i < hi, in row-major order. */
    private static void accumulate(int[] sh, int[] lo, int[] hi, float[] x, int xo, int[] xs, double[] acc, int[] os) {
        int rank = sh.length, last = rank - 1;
        int[] idx = lo.clone();
        int xi = xo, oi = 0;
        for (int d = 0; d < rank; d++) {
            xi += lo[d] * xs[d];
            oi += lo[d] * os[d];
        }
        int n = hi[last] - lo[last], xIn = xs[last], oIn = os[last];
        while (true) {
            if (oIn == 0) {
                double s = acc[oi];
                for (int j = 0; j < n; j++) s += x[xi + j * xIn];
                acc[oi] = s;
            } else {
                for (int j = 0; j < n; j++) acc[oi + j * oIn] += x[xi + j * xIn];
            }
            int d = last - 1;
            for (; d >= 0; d--) {
                idx[d]++;
                xi += xs[d];
                oi += os[d];
                if (idx[d] < hi[d]) break;
                xi -= xs[d] * (hi[d] - lo[d]);
                oi -= os[d] * (hi[d] - lo[d]);
                idx[d] = lo[d];
            }
            if (d < 0) return;
        }
    }

    /** Σ x[xo .. xo+n) in double: fixed blocks summed in parallel, then the block sums in order. */
    static double sumAll(float[] x, int xo, int n) {
        int blocks = (n + BLOCK - 1) / BLOCK;
        double[] partial = new double[blocks];
        Parallel.forRange(0, blocks, Math.max(1, CpuBackend.GRAIN / BLOCK), (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                int s = xo + b * BLOCK, e = xo + Math.min(n, (b + 1) * BLOCK);
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                int i = s;
                for (; i + 3 < e; i += 4) {
                    s0 += x[i];
                    s1 += x[i + 1];
                    s2 += x[i + 2];
                    s3 += x[i + 3];
                }
                for (; i < e; i++) s0 += x[i];
                partial[b] = (s0 + s1) + (s2 + s3);
            }
        });
        double total = 0;
        for (double p : partial) total += p;
        return total;
    }

    // ---------------------------------------------------------------- softmax

    static void softmax(float[] x, int xo, float[] y, int yo, int outer, int n, int inner, boolean log) {
        if (outer == 0 || n == 0 || inner == 0) return;
        int grain = Math.max(1, CpuBackend.GRAIN / Math.max(1, n * inner));
        Parallel.forRange(0, outer, grain, (o0, o1) -> {
            if (inner == 1) {
                for (int o = o0; o < o1; o++) softmaxRow(x, xo + o * n, y, yo + o * n, n, log);
            } else {
                float[] max = new float[inner];
                double[] sum = new double[inner];
                for (int o = o0; o < o1; o++) softmaxColumns(x, xo + o * n * inner, y, yo + o * n * inner, n, inner, log, max, sum);
            }
        });
    }

    private static void softmaxRow(float[] x, int xo, float[] y, int yo, int n, boolean log) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[xo + i]);
        double sum = 0;
        if (log) {
            for (int i = 0; i < n; i++) sum += Math.exp(x[xo + i] - max);
            float lse = (float) Math.log(sum);
            for (int i = 0; i < n; i++) y[yo + i] = x[xo + i] - max - lse;
        } else {
            for (int i = 0; i < n; i++) {
                float e = (float) Math.exp(x[xo + i] - max);
                y[yo + i] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            for (int i = 0; i < n; i++) y[yo + i] *= inv;
        }
    }

    /** Softmax over i of x[i·inner + j] for every j, with the inner index contiguous in the loops. */
    private static void softmaxColumns(float[] x, int xo, float[] y, int yo, int n, int inner, boolean log,
                                       float[] max, double[] sum) {
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) max[j] = Math.max(max[j], x[xo + i * inner + j]);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < inner; j++) {
                float e = (float) Math.exp(x[xo + i * inner + j] - max[j]);
                if (!log) y[yo + i * inner + j] = e;
                sum[j] += e;
            }
        }
        if (log) {
            for (int j = 0; j < inner; j++) sum[j] = Math.log(sum[j]);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < inner; j++) y[yo + i * inner + j] = x[xo + i * inner + j] - max[j] - (float) sum[j];
        } else {
            for (int j = 0; j < inner; j++) sum[j] = 1.0 / sum[j];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < inner; j++) y[yo + i * inner + j] *= (float) sum[j];
        }
    }

    static void softmaxBackward(float[] y, int yo, float[] dy, int dyo, float[] dx, int dxo, int outer, int n, int inner,
                                boolean log) {
        if (outer == 0 || n == 0 || inner == 0) return;
        int grain = Math.max(1, CpuBackend.GRAIN / Math.max(1, n * inner));
        Parallel.forRange(0, outer, grain, (o0, o1) -> {
            double[] dot = new double[inner];
            for (int o = o0; o < o1; o++) {
                int base = o * n * inner;
                Arrays.fill(dot, 0);
                // softmax: Σ dy·y; log-softmax: Σ dy
                for (int i = 0; i < n; i++) {
                    int r = base + i * inner;
                    if (log) for (int j = 0; j < inner; j++) dot[j] += dy[dyo + r + j];
                    else for (int j = 0; j < inner; j++) dot[j] += (double) dy[dyo + r + j] * y[yo + r + j];
                }
                for (int i = 0; i < n; i++) {
                    int r = base + i * inner;
                    for (int j = 0; j < inner; j++) {
                        float s = (float) dot[j], yv = y[yo + r + j], g = dy[dyo + r + j];
                        dx[dxo + r + j] = log ? g - (float) Math.exp(yv) * s : yv * (g - s);
                    }
                }
            }
        });
    }
}
