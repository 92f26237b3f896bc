package dev.graft.backend.cpu;

import dev.graft.backend.BinaryOp;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Element-wise kernels on float arrays. The op is dispatched once per chunk (outside the loops) so
 * every loop body is a plain array expression that C2 can vectorize. Transcendentals go through
 * {@link Math} in double and round once to float.
 */
final class CpuElementwise {
    private CpuElementwise() {}

    private static final int GRAIN = CpuBackend.GRAIN;

    // ---------------------------------------------------------------- unary

    static void unary(UnaryOp op, float[] x, int xo, float[] y, int yo, int n) {
        Parallel.forRange(0, n, GRAIN, (s, e) -> unaryRange(op, x, xo + s, y, yo + s, e - s));
    }

    private static void unaryRange(UnaryOp op, float[] x, int xo, float[] y, int yo, int n) {
        switch (op) {
            case RELU -> clamp(x, xo, y, yo, n, 0f, Float.POSITIVE_INFINITY);
            case RELU6 -> clamp(x, xo, y, yo, n, 0f, 6f);
            case HARDSIGMOID -> {
                for (int i = 0; i < n; i++) y[yo + i] = Math.min(Math.max(x[xo + i] + 3f, 0f), 6f) / 6f;
            }
            case HARDSWISH -> {
                for (int i = 0; i < n; i++) {
                    float v = x[xo + i];
                    y[yo + i] = v * Math.min(Math.max(v + 3f, 0f), 6f) / 6f;
                }
            }
            case SIGMOID -> { for (int i = 0; i < n; i++) y[yo + i] = sigmoid(x[xo + i]); }
            case SILU -> {
                for (int i = 0; i < n; i++) {
                    double v = x[xo + i];
                    y[yo + i] = (float) (v / (1.0 + Math.exp(-v)));
                }
            }
            case TANH -> { for (int i = 0; i < n; i++) y[yo + i] = (float) Math.tanh(x[xo + i]); }
            case EXP -> { for (int i = 0; i < n; i++) y[yo + i] = (float) Math.exp(x[xo + i]); }
            case LOG -> { for (int i = 0; i < n; i++) y[yo + i] = (float) Math.log(x[xo + i]); }
            case NEG -> { for (int i = 0; i < n; i++) y[yo + i] = -x[xo + i]; }
            case SQRT -> { for (int i = 0; i < n; i++) y[yo + i] = (float) Math.sqrt(x[xo + i]); }
            case SQUARE -> {
                for (int i = 0; i < n; i++) {
                    float v = x[xo + i];
                    y[yo + i] = v * v;
                }
            }
            case ABS -> { for (int i = 0; i < n; i++) y[yo + i] = Math.abs(x[xo + i]); }
        }
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /**
     * y = min(max(x, lo), hi), NaN propagating (Math.max/min semantics). Vector code: the scalar
     * loop C2 would otherwise emit branches on the data.
     */
    private static void clamp(float[] x, int xo, float[] y, int yo, int n, float lo, float hi) {
        int i = 0;
        for (int end = S.loopBound(n); i < end; i += S.length())
            FloatVector.fromArray(S, x, xo + i).max(lo).min(hi).intoArray(y, yo + i);
        for (; i < n; i++) y[yo + i] = Math.min(Math.max(x[xo + i], lo), hi);
    }

    /**
     * dx = dy where lo &lt; x &lt; hi, else 0; NaN in x lets dy pass (as PyTorch's threshold
     * backward). Branch-free masks: activations are signs at random, which defeats branch prediction.
     */
    private static void clampBackward(float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int n, float lo, float hi) {
        int i = 0;
        for (int end = S.loopBound(n); i < end; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, xo + i);
            VectorMask<Float> off = v.compare(VectorOperators.LE, lo).or(v.compare(VectorOperators.GE, hi));
            FloatVector.fromArray(S, dy, dyo + i).blend(0f, off).intoArray(dx, dxo + i);
        }
        for (; i < n; i++) {
            float v = x[xo + i];
            dx[dxo + i] = v <= lo || v >= hi ? 0f : dy[dyo + i];
        }
    }

    static float sigmoid(float v) {
        return (float) (1.0 / (1.0 + Math.exp(-v)));
    }

    static void unaryBackward(UnaryOp op, float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int n) {
        Parallel.forRange(0, n, GRAIN, (s, e) -> backwardRange(op, x, xo + s, dy, dyo + s, dx, dxo + s, e - s));
    }

    private static void backwardRange(UnaryOp op, float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int n) {
        switch (op) {
            case RELU -> clampBackward(x, xo, dy, dyo, dx, dxo, n, 0f, Float.POSITIVE_INFINITY);
            case RELU6 -> clampBackward(x, xo, dy, dyo, dx, dxo, n, 0f, 6f);
            case HARDSIGMOID -> {
                for (int i = 0; i < n; i++) {
                    float v = x[xo + i];
                    dx[dxo + i] = v > -3f && v < 3f ? dy[dyo + i] / 6f : 0f;
                }
            }
            case HARDSWISH -> {
                for (int i = 0; i < n; i++) {
                    float v = x[xo + i], g = dy[dyo + i];
                    dx[dxo + i] = v < -3f ? 0f : v <= 3f ? g * (v / 3f + 0.5f) : g;
                }
            }
            // Derivatives of the transcendentals in double: 1 − s and 1 − t² cancel badly in float.
            case SIGMOID -> {
                for (int i = 0; i < n; i++) {
                    double s = 1.0 / (1.0 + Math.exp(-x[xo + i]));
                    dx[dxo + i] = (float) (dy[dyo + i] * s * (1 - s));
                }
            }
            case SILU -> {
                for (int i = 0; i < n; i++) {
                    double v = x[xo + i], s = 1.0 / (1.0 + Math.exp(-v));
                    dx[dxo + i] = (float) (dy[dyo + i] * s * (1 + v * (1 - s)));
                }
            }
            case TANH -> {
                for (int i = 0; i < n; i++) {
                    double t = Math.tanh(x[xo + i]);
                    dx[dxo + i] = (float) (dy[dyo + i] * (1 - t * t));
                }
            }
            case EXP -> { for (int i = 0; i < n; i++) dx[dxo + i] = dy[dyo + i] * (float) Math.exp(x[xo + i]); }
            case LOG -> { for (int i = 0; i < n; i++) dx[dxo + i] = dy[dyo + i] / x[xo + i]; }
            case NEG -> { for (int i = 0; i < n; i++) dx[dxo + i] = -dy[dyo + i]; }
            case SQRT -> { for (int i = 0; i < n; i++) dx[dxo + i] = dy[dyo + i] / (2f * (float) Math.sqrt(x[xo + i])); }
            case SQUARE -> { for (int i = 0; i < n; i++) dx[dxo + i] = 2f * x[xo + i] * dy[dyo + i]; }
            case ABS -> { for (int i = 0; i < n; i++) dx[dxo + i] = dy[dyo + i] * Math.signum(x[xo + i]); }
        }
    }

    // ---------------------------------------------------------------- scalar

    static void scalar(ScalarOp op, float[] x, int xo, double s, float[] y, int yo, int n) {
        Parallel.forRange(0, n, GRAIN, (a, b) -> scalarRange(op, x, xo + a, s, y, yo + a, b - a));
    }

    private static void scalarRange(ScalarOp op, float[] x, int xo, double s, float[] y, int yo, int n) {
        float f = (float) s; // PyTorch casts the scalar to the tensor's type
        switch (op) {
            case ADD -> { for (int i = 0; i < n; i++) y[yo + i] = x[xo + i] + f; }
            case MUL -> { for (int i = 0; i < n; i++) y[yo + i] = x[xo + i] * f; }
            case RSUB -> { for (int i = 0; i < n; i++) y[yo + i] = f - x[xo + i]; }
            case RDIV -> { for (int i = 0; i < n; i++) y[yo + i] = f / x[xo + i]; }
            case POW -> {
                if (s == 2.0) {
                    for (int i = 0; i < n; i++) y[yo + i] = x[xo + i] * x[xo + i]; // exact same rounding as pow
                } else if (s == 1.0) {
                    System.arraycopy(x, xo, y, yo, n);
                } else {
                    for (int i = 0; i < n; i++) y[yo + i] = (float) Math.pow(x[xo + i], s);
                }
            }
        }
    }

    // ---------------------------------------------------------------- binary with broadcasting

    static void binary(BinaryOp op, int[] shape, float[] a, int ao, int[] aStrides, float[] b, int bo, int[] bStrides,
                       float[] out, int oo) {
        int total = 1;
        for (int d : shape) total *= d;
        if (total == 0) return;
        int[] outStrides = dev.graft.tensor.Shapes.contiguousStrides(shape);
        // Coalescing turns same-shape contiguous operands into one long row, and "b per channel"
        // into rows of a against a single b element (b stride 0 inside the row).
        int[][] co = dev.graft.tensor.Shapes.coalesce(shape, aStrides, bStrides, outStrides);
        int[] sh = co[0];
        int rank = sh.length;
        if (rank == 0) {
            out[oo] = apply(op, a[ao], b[bo]);
            return;
        }
        int inner = sh[rank - 1], as = co[1][rank - 1], bs = co[2][rank - 1];
        int[][] strides = {co[1], co[2], co[3]};
        int[] base = {ao, bo, oo};
        if (rank == 1) {
            Parallel.forRange(0, inner, GRAIN, (s, e) -> row(op, a, ao + s * as, as, b, bo + s * bs, bs, out, oo + s, e - s));
            return;
        }
        Parallel.forRange(0, Strided.rows(sh), Math.max(1, GRAIN / inner), (r0, r1) -> {
            Strided cur = new Strided(sh, strides, base, r0);
            for (int r = r0; r < r1; r++, cur.next())
                row(op, a, cur.off[0], as, b, cur.off[1], bs, out, cur.off[2], inner);
        });
    }

    private static float apply(BinaryOp op, float x, float y) {
        return switch (op) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
        };
    }

    /** out[o + j] = a[ai + j·as] ⊙ b[bi + j·bs] for j < n, with loops specialised on the strides. */
    private static void row(BinaryOp op, float[] a, int ai, int as, float[] b, int bi, int bs, float[] out, int o, int n) {
        if (as == 1 && bs == 1) {
            switch (op) {
                case ADD -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] + b[bi + j]; }
                case SUB -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] - b[bi + j]; }
                case MUL -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] * b[bi + j]; }
                case DIV -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] / b[bi + j]; }
            }
        } else if (as == 1 && bs == 0) {
            float v = b[bi];
            switch (op) {
                case ADD -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] + v; }
                case SUB -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] - v; }
                case MUL -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] * v; }
                case DIV -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j] / v; }
            }
        } else if (as == 0 && bs == 1) {
            float v = a[ai];
            switch (op) {
                case ADD -> { for (int j = 0; j < n; j++) out[o + j] = v + b[bi + j]; }
                case SUB -> { for (int j = 0; j < n; j++) out[o + j] = v - b[bi + j]; }
                case MUL -> { for (int j = 0; j < n; j++) out[o + j] = v * b[bi + j]; }
                case DIV -> { for (int j = 0; j < n; j++) out[o + j] = v / b[bi + j]; }
            }
        } else {
            switch (op) {
                case ADD -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j * as] + b[bi + j * bs]; }
                case SUB -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j * as] - b[bi + j * bs]; }
                case MUL -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j * as] * b[bi + j * bs]; }
                case DIV -> { for (int j = 0; j < n; j++) out[o + j] = a[ai + j * as] / b[bi + j * bs]; }
            }
        }
    }
}
