package dev.graft.backend.cpu;

/**
 * Batch norm over x viewed as (n, c, hw). Statistics and gradient sums are per channel, in double,
 * each channel on one thread (parallel over channels), so results do not depend on the thread count.
 */
final class CpuNormalization {
    private CpuNormalization() {}

    private static int channelGrain(int n, int hw) {
        return Math.max(1, CpuBackend.GRAIN / Math.max(1, n * hw));
    }

    /** Mean and biased variance per channel (two passes for accuracy). */
    static void stats(int n, int c, int hw, float[] x, int xo, float[] mean, int mo, float[] var, int vo) {
        long count = (long) n * hw;
        Parallel.forRange(0, c, channelGrain(n, hw), (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                double s = 0;
                for (int b = 0; b < n; b++) {
                    int base = xo + (b * c + ch) * hw;
                    for (int i = 0; i < hw; i++) s += x[base + i];
                }
                double mu = s / count;
                double sq = 0;
                for (int b = 0; b < n; b++) {
                    int base = xo + (b * c + ch) * hw;
                    for (int i = 0; i < hw; i++) {
                        double d = x[base + i] - mu;
                        sq += d * d;
                    }
                }
                mean[mo + ch] = (float) mu;
                var[vo + ch] = (float) (sq / count);
            }
        });
    }

    static void forward(int n, int c, int hw, float[] x, int xo, float[] mean, int mo, float[] invStd, int io,
                        float[] w, int wo, float[] bias, int bo, float[] y, int yo) {
        int planes = n * c;
        Parallel.forRange(0, planes, Math.max(1, CpuBackend.GRAIN / Math.max(1, hw)), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int ch = p % c;
                float mu = mean[mo + ch];
                float scale = invStd[io + ch] * (w == null ? 1f : w[wo + ch]);
                float shift = bias == null ? 0f : bias[bo + ch];
                int xb = xo + p * hw, yb = yo + p * hw;
                for (int i = 0; i < hw; i++) y[yb + i] = (x[xb + i] - mu) * scale + shift;
            }
        });
    }

    /**
     * As PyTorch's CPU batch_norm_backward: with sums Σdy and Σdy·(x − mean) per channel,
     * training: dx = (dy − Σdy/N − (x − mean)·Σdy(x−mean)·invStd²/N) · invStd · w; eval: dx = dy · invStd · w.
     */
    static void backward(int n, int c, int hw, float[] x, int xo, float[] dy, int dyo, float[] mean, int mo,
                         float[] invStd, int io, float[] w, int wo, boolean batchStats,
                         float[] dx, int dxo, float[] dw, int dwo, float[] db, int dbo) {
        long count = (long) n * hw;
        Parallel.forRange(0, c, channelGrain(n, hw), (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                float mu = mean[mo + ch], is = invStd[io + ch];
                float weight = w == null ? 1f : w[wo + ch];
                double sumDy = 0, dot = 0;
                if (dw != null || db != null || (dx != null && batchStats)) {
                    for (int b = 0; b < n; b++) {
                        int xb = xo + (b * c + ch) * hw, gb = dyo + (b * c + ch) * hw;
                        for (int i = 0; i < hw; i++) {
                            float g = dy[gb + i];
                            sumDy += g;
                            dot += (double) g * (x[xb + i] - mu);
                        }
                    }
                }
                if (dw != null) dw[dwo + ch] = (float) (dot * is);
                if (db != null) db[dbo + ch] = (float) sumDy;
                if (dx == null) continue;
                float gs = is * weight;
                if (batchStats) {
                    float k = (float) (dot * is * is / count);
                    float gradMean = (float) (sumDy / count);
                    for (int b = 0; b < n; b++) {
                        int xb = xo + (b * c + ch) * hw, gb = dyo + (b * c + ch) * hw, ob = dxo + (b * c + ch) * hw;
                        for (int i = 0; i < hw; i++)
                            dx[ob + i] = (dy[gb + i] - gradMean - (x[xb + i] - mu) * k) * gs;
                    }
                } else {
                    for (int b = 0; b < n; b++) {
                        int gb = dyo + (b * c + ch) * hw, ob = dxo + (b * c + ch) * hw;
                        for (int i = 0; i < hw; i++) dx[ob + i] = dy[gb + i] * gs;
                    }
                }
            }
        });
    }
}
