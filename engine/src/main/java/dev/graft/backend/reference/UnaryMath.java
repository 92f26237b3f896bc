package dev.graft.backend.reference;

import dev.graft.backend.UnaryOp;

/** The element-wise functions of {@link UnaryOp} and their derivatives, one double at a time, as PyTorch defines them. */
final class UnaryMath {
    private UnaryMath() {}

    /** f(x) for one element, as PyTorch defines it. */
    static double apply(UnaryOp op, double x) {
        return switch (op) {
            case RELU -> Math.max(x, 0.0);                          // NaN stays NaN, as clamp_min
            case RELU6 -> relu6(x);
            case SILU -> x / (1 + Math.exp(-x));                    // x · sigmoid(x)
            case HARDSWISH -> x * relu6(x + 3) / 6;
            case HARDSIGMOID -> relu6(x + 3) / 6;
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case NEG -> -x;
            case SQRT -> Math.sqrt(x);
            case SQUARE -> x * x;
            case ABS -> Math.abs(x);
        };
    }

    private static double relu6(double x) {
        return Math.min(Math.max(x, 0.0), 6.0);
    }

    /**
     * dy · f'(x), with PyTorch's choices at the kinks: relu passes no gradient where x ≤ 0; relu6
     * (hardtanh_backward) none where x ≤ 0 or x ≥ 6; hardswish 0 for x &lt; −3, x/3 + 1/2 for
     * −3 ≤ x ≤ 3 (so −1/2 at exactly −3), 1 for x &gt; 3; hardsigmoid 1/6 for −3 &lt; x &lt; 3, else 0;
     * abs sign(x), 0 at 0.
     */
    static double derivative(UnaryOp op, double x, double dy) {
        return switch (op) {
            case RELU -> x <= 0 ? 0.0 : dy;
            case RELU6 -> (x <= 0 || x >= 6) ? 0.0 : dy;
            case SILU -> {
                double s = 1 / (1 + Math.exp(-x));
                yield dy * s * (1 + x * (1 - s));
            }
            case HARDSWISH -> x < -3 ? 0.0 : x <= 3 ? dy * (x / 3 + 0.5) : dy;
            case HARDSIGMOID -> (x > -3 && x < 3) ? dy / 6 : 0.0;
            case SIGMOID -> {
                double s = 1 / (1 + Math.exp(-x));
                yield dy * s * (1 - s);
            }
            case TANH -> {
                double t = Math.tanh(x);
                yield dy * (1 - t * t);
            }
            case EXP -> dy * Math.exp(x);
            case LOG -> dy / x;
            case NEG -> -dy;
            case SQRT -> dy / (2 * Math.sqrt(x));
            case SQUARE -> dy * 2 * x;
            case ABS -> dy * Math.signum(x);
        };
    }
}
