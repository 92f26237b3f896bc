package dev.graft.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Batch norm over x viewed as (n, c, hw). Statistics and gradient sums are per channel: each plane
 * (one image, one channel) is reduced in float vector lanes, the planes' sums are added in double
 * (as PyTorch's CPU kernel: a vectorized reduction per plane into a double accumulator). Each
 * channel is on one thread (parallel over channels), with a fixed lane order, so results do not
 * depend on the thread count.
 */
final class CpuNormalization {
    private CpuNormalization() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Σ x[o .. o+len) in float lanes (four vector accumulators), lanes then added in a fixed order. */
    static double sum(float[] x, int o, int len) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (int end = len - 4 * L; i <= end; i += 4 * L) {
            a0 = a0.add(FloatVector.fromArray(S, x, o + i));
            a1 = a1.add(FloatVector.fromArray(S, x, o + i + L));
            a2 = a2.add(FloatVector.fromArray(S, x, o + i + 2 * L));
            a3 = a3.add(FloatVector.fromArray(S, x, o + i + 3 * L));
        }
        for (int end = S.loopBound(len); i < end; i += L) a0 = a0.add(FloatVector.fromArray(S, x, o + i));
        double s = lanes(a0.add(a1).add(a2.add(a3)));
        for (; i < len; i++) s += x[o + i];
        return s;
    }

    /** Σ (x − mu)² over x[o .. o+len), as {@link #sum}. */
    static double sumSquares(float[] x, int o, int len, float mu) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0;
        int i = 0;
        for (int end = len - 2 * L; i <= end; i += 2 * L) {
            FloatVector d0 = FloatVector.fromArray(S, x, o + i).sub(mu), d1 = FloatVector.fromArray(S, x, o + i + L).sub(mu);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
        }
        double s = lanes(a0.add(a1));
        for (; i < len; i++) {
            double d = x[o + i] - mu;
            s += d * d;
        }
        return s;
    }

    /** The lanes of v added in index order, in double. */
    private static double lanes(FloatVector v) {
        double s = 0;
        for (int l = 0; l < L; l++) s += v.lane(l);
        return s;
    }

    private static int channelGrain(int n, int hw) {
        return Math.max(1, CpuBackend.GRAIN / Math.max(1, n * hw));
    }

    /** Mean and biased variance per channel (two passes for accuracy). */
    static void stats(int n, int c, int hw, float[] x, int xo, float[] mean, int mo, float[] var, int vo) {
        long count = (long) n * hw;
        Parallel.forRange(0, c, channelGrain(n, hw), (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                double s = 0;
                for (int b = 0; b < n; b++) s += sum(x, xo + (b * c + ch) * hw, hw);
                float mu = (float) (s / count);
                double sq = 0;
                for (int b = 0; b < n; b++) sq += sumSquares(x, xo + (b * c + ch) * hw, hw, mu);
                mean[mo + ch] = mu;
                var[vo + ch] = (float) (sq / count);
            }
        });
    }

    /** y = (x − mean[c])·(invStd[c]·w[c]) + bias[c] ({@link #forwardClamped} without a clamp). */
    static void forward(int n, int c, int hw, float[] x, int xo, float[] mean, int mo, float[] invStd, int io,
                        float[] w, int wo, float[] bias, int bo, float[] y, int yo) {
        forwardClamped(n, c, hw, x, xo, mean, mo, invStd, io, w, wo, bias, bo, null, 0, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, y, yo);
    }

    /** {@link #backwardClamped} without an activation: the gradient is dy itself. */
    static void backward(int n, int c, int hw, float[] x, int xo, float[] dy, int dyo, float[] mean, int mo,
                         float[] invStd, int io, float[] w, int wo, boolean batchStats,
                         float[] dx, int dxo, float[] dw, int dwo, float[] db, int dbo) {
        backwardClamped(n, c, hw, x, xo, null, 0, dy, dyo, mean, mo, invStd, io, w, wo, batchStats, 0f, 0f, dx, dxo, dw, dwo, db, dbo);
    }

    // ---------------------------------------------------------------- fused with ReLU / ReLU6

    /**
     * z = min(max((x − mean)·scale + shift [+ r], lo), hi) per plane, scale = invStd·w (w null: 1),
     * shift = bias (null: 0), r the residual (null: none) added after the batch norm's rounding; the
     * clamp is exact, so with a ReLU/ReLU6 range this is bit-identical to the kernels in sequence, and
     * with ±∞ and no residual it is the batch norm.
     */
    static void forwardClamped(int n, int c, int hw, float[] x, int xo, float[] mean, int mo, float[] invStd, int io,
                               float[] w, int wo, float[] bias, int bo, float[] r, int ro, float lo, float hi, float[] z, int zo) {
        int planes = n * c;
        Parallel.forRange(0, planes, Math.max(1, CpuBackend.GRAIN / Math.max(1, hw)), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int ch = p % c;
                float mu = mean[mo + ch];
                float scale = invStd[io + ch] * (w == null ? 1f : w[wo + ch]);
                float shift = bias == null ? 0f : bias[bo + ch];
                int xb = xo + p * hw, zb = zo + p * hw, i = 0;
                if (r == null) {
                    for (int end = S.loopBound(hw); i < end; i += L)
                        FloatVector.fromArray(S, x, xb + i).sub(mu).mul(scale).add(shift).max(lo).min(hi).intoArray(z, zb + i);
                    for (; i < hw; i++) z[zb + i] = Math.min(Math.max((x[xb + i] - mu) * scale + shift, lo), hi);
                } else {
                    int rb = ro + p * hw;
                    for (int end = S.loopBound(hw); i < end; i += L)
                        FloatVector.fromArray(S, x, xb + i).sub(mu).mul(scale).add(shift).add(FloatVector.fromArray(S, r, rb + i))
                                .max(lo).min(hi).intoArray(z, zb + i);
                    for (; i < hw; i++) z[zb + i] = Math.min(Math.max((x[xb + i] - mu) * scale + shift + r[rb + i], lo), hi);
                }
            }
        });
    }

    /** dz where lo &lt; z &lt; hi (NaN passes), else 0: the clamp's gradient read from its output; dz itself when z is null. */
    private static FloatVector masked(float[] dz, int i, float[] z, float lo, float hi, int zi) {
        if (z == null) return FloatVector.fromArray(S, dz, i);
        FloatVector v = FloatVector.fromArray(S, z, zi);
        VectorMask<Float> off = v.compare(VectorOperators.LE, lo).or(v.compare(VectorOperators.GE, hi));
        return FloatVector.fromArray(S, dz, i).blend(0f, off);
    }

    private static float maskedScalar(float[] dz, int i, float[] z, float lo, float hi, int zi) {
        if (z == null) return dz[i];
        float v = z[zi];
        return v <= lo || v >= hi ? 0f : dz[i];
    }

    /**
     * As PyTorch's CPU batch_norm_backward: with sums Σg and Σg·(x − mean) per channel (float lanes
     * per plane, double across planes), training: dx = (g − Σg/N − (x − mean)·Σg(x−mean)·invStd²/N) ·
     * invStd · w; eval: dx = g · invStd · w. The gradient g entering batch norm is dz, or, with an
     * output z of {@link #forwardClamped}, dz masked by lo &lt; z &lt; hi, computed on the fly in both
     * passes (never stored).
     */
    static void backwardClamped(int n, int c, int hw, float[] x, int xo, float[] z, int zo, float[] dz, int dzo,
                                float[] mean, int mo, float[] invStd, int io, float[] w, int wo, boolean batchStats,
                                float lo, float hi, float[] dx, int dxo, float[] dw, int dwo, float[] db, int dbo) {
        long count = (long) n * hw;
        Parallel.forRange(0, c, channelGrain(n, hw), (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                float mu = mean[mo + ch], is = invStd[io + ch];
                float weight = w == null ? 1f : w[wo + ch];
                double sumDy = 0, dot = 0;
                if (dw != null || db != null || (dx != null && batchStats)) {
                    for (int b = 0; b < n; b++) {
                        int off = (b * c + ch) * hw, i = 0;
                        FloatVector s0 = FloatVector.zero(S), s1 = s0, d0 = s0, d1 = s0;
                        for (int end = hw - 2 * L; i <= end; i += 2 * L) {
                            FloatVector g0 = masked(dz, dzo + off + i, z, lo, hi, zo + off + i);
                            FloatVector g1 = masked(dz, dzo + off + i + L, z, lo, hi, zo + off + i + L);
                            s0 = s0.add(g0);
                            s1 = s1.add(g1);
                            d0 = g0.fma(FloatVector.fromArray(S, x, xo + off + i).sub(mu), d0);
                            d1 = g1.fma(FloatVector.fromArray(S, x, xo + off + i + L).sub(mu), d1);
                        }
                        double ps = lanes(s0.add(s1)), pd = lanes(d0.add(d1));
                        for (; i < hw; i++) {
                            float g = maskedScalar(dz, dzo + off + i, z, lo, hi, zo + off + i);
                            ps += g;
                            pd += (double) g * (x[xo + off + i] - mu);
                        }
                        sumDy += ps;
                        dot += pd;
                    }
                }
                if (dw != null) dw[dwo + ch] = (float) (dot * is);
                if (db != null) db[dbo + ch] = (float) sumDy;
                if (dx == null) continue;
                float gs = is * weight;
                float k = batchStats ? (float) (dot * is * is / count) : 0f;
                float gradMean = batchStats ? (float) (sumDy / count) : 0f;
                for (int b = 0; b < n; b++) {
                    int off = (b * c + ch) * hw, i = 0;
                    for (int end = S.loopBound(hw); i < end; i += L) {
                        FloatVector g = masked(dz, dzo + off + i, z, lo, hi, zo + off + i);
                        if (batchStats) g = g.sub(gradMean).sub(FloatVector.fromArray(S, x, xo + off + i).sub(mu).mul(k));
                        g.mul(gs).intoArray(dx, dxo + off + i);
                    }
                    for (; i < hw; i++) {
                        float g = maskedScalar(dz, dzo + off + i, z, lo, hi, zo + off + i);
                        dx[dxo + off + i] = batchStats ? (g - gradMean - (x[xo + off + i] - mu) * k) * gs : g * gs;
                    }
                }
            }
        });
    }
}
