package dev.graft.autograd;

import static dev.graft.testing.GradCheck.check;
import static dev.graft.testing.GradCheck.input;

import dev.graft.backend.UnaryOp;
import dev.graft.ops.Concat;
import dev.graft.ops.Convolution;
import dev.graft.ops.Dropout;
import dev.graft.ops.Elementwise;
import dev.graft.ops.LinearAlgebra;
import dev.graft.ops.Losses;
import dev.graft.ops.Normalization;
import dev.graft.ops.Pooling;
import dev.graft.ops.Reductions;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every op's backward against central finite differences in float64 (the reference backend). */
class GradCheckTest {
    private final Random rng = new Random(42);

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void unary(UnaryOp op) {
        Tensor x = switch (op) {
            case LOG, SQRT -> positive(2, 3, 4);
            case EXP -> input(rng, 2, 3, 4);
            // Spread over about [-8, 8], away from the kinks of relu, relu6, hardswish, hardsigmoid and abs.
            default -> scaled(input(rng, 0.01, new double[] {0, 6 / 8.0, -6 / 8.0, 3 / 8.0, -3 / 8.0}, 2, 3, 4), 8);
        };
        check(op.name(), a -> Elementwise.unary(op, a[0]), x);
    }

    private static Tensor scaled(Tensor x, double factor) {
        try (var _ = Autograd.noGrad()) {
            return Elementwise.mul(x, factor).detach().requiresGrad(true);
        }
    }

    @Test
    void pad2d() {
        check("pad2d", t -> Views.pad2d(t[0], 0, 1, 2, 1), input(rng, 2, 3, 4, 5));
        check("pad2d-none", t -> Views.pad2d(t[0], 0, 0, 0, 0), input(rng, 1, 2, 3, 3));
    }

    @Test
    void binaryBroadcast() {
        Tensor a = input(rng, 2, 3, 4, 5);
        Tensor c = input(rng, 3, 1, 1);
        Tensor r = input(rng, 1, 5);
        check("add", t -> Elementwise.add(t[0], t[1]), a, c);
        check("sub", t -> Elementwise.sub(t[0], t[1]), r, a);
        check("mul", t -> Elementwise.mul(t[0], t[1]), a, r);
        Tensor d = positive(3, 1, 1);
        check("div", t -> Elementwise.div(t[0], t[1]), a, d);
        check("div-same-input", t -> Elementwise.div(t[0], t[0].add(3.0)), d);
    }

    @Test
    void scalarOps() {
        Tensor x = positive(3, 4);
        check("add-scalar", t -> Elementwise.add(t[0], 2.5), x);
        check("mul-scalar", t -> Elementwise.mul(t[0], -1.5), x);
        check("pow", t -> Elementwise.pow(t[0], 2.7), x);
        check("rsub", t -> Elementwise.rsub(1.0, t[0]), x);
        check("rdiv", t -> Elementwise.rdiv(2.0, t[0]), x);
    }

    @Test
    void reductions() {
        Tensor x = input(rng, 2, 3, 4);
        check("sum-all", t -> Reductions.sum(t[0]), x);
        check("sum-axes-keep", t -> Reductions.sum(t[0], new int[] {0, 2}, true), x);
        check("sum-axis", t -> Reductions.sum(t[0], new int[] {-1}, false), x);
        check("mean-all", t -> Reductions.mean(t[0]), x);
        check("mean-axis", t -> Reductions.mean(t[0], new int[] {1}, false), x);
        check("softmax-1", t -> Reductions.softmax(t[0], 1), x);
        check("softmax-last", t -> Reductions.softmax(t[0], -1), x);
        check("log-softmax-1", t -> Reductions.logSoftmax(t[0], 1), x);
        check("log-softmax-0", t -> Reductions.logSoftmax(t[0], 0), x);
    }

    @Test
    void matmulAndLinear() {
        check("mm", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 3, 4), input(rng, 4, 5));
        check("bmm", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 2, 3, 4), input(rng, 2, 4, 5));
        check("bmm-broadcast", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 2, 3, 4), input(rng, 4, 5));
        check("bmm-broadcast-left", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 3, 4), input(rng, 2, 1, 4, 5));
        check("mv", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 3, 4), input(rng, 4));
        check("vm", t -> LinearAlgebra.matmul(t[0], t[1]), input(rng, 4), input(rng, 4, 5));
        check("mm-transposed", t -> LinearAlgebra.matmul(t[0].transpose(0, 1), t[1]), input(rng, 4, 3), input(rng, 4, 5));
        check("linear", t -> LinearAlgebra.linear(t[0], t[1], t[2]), input(rng, 5, 4), input(rng, 3, 4), input(rng, 3));
        check("linear-3d-nobias", t -> LinearAlgebra.linear(t[0], t[1], null), input(rng, 2, 5, 4), input(rng, 3, 4));
    }

    @Test
    void conv2d() {
        conv("3x3-s1-p1-bias", 2, 3, 6, 6, 4, 3, 1, 1, 1, 1, true);
        conv("3x3-s2-p1", 2, 3, 7, 7, 4, 3, 2, 1, 1, 1, false);
        conv("1x1", 2, 4, 5, 5, 3, 1, 1, 0, 1, 1, true);
        conv("1x1-s2", 1, 4, 5, 5, 3, 1, 2, 0, 1, 1, false);
        conv("5x5-s2-p2", 1, 2, 9, 9, 3, 5, 2, 2, 1, 1, false);
        conv("depthwise-s2", 2, 4, 7, 7, 4, 3, 2, 1, 1, 4, true);
        conv("groups2", 2, 4, 5, 5, 6, 3, 1, 1, 1, 2, false);
        conv("dilation2", 1, 2, 7, 7, 3, 3, 1, 2, 2, 1, true);
        // Non-square everything.
        Tensor x = input(rng, 1, 2, 6, 7), w = input(rng, 3, 2, 3, 2), b = input(rng, 3);
        check("conv-nonsquare", t -> Convolution.conv2d(t[0], t[1], t[2], new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 2}, 1), x, w, b);
    }

    private void conv(String name, int n, int c, int h, int w, int out, int k, int stride, int pad, int dil, int groups, boolean bias) {
        Tensor x = input(rng, n, c, h, w);
        Tensor wt = input(rng, out, c / groups, k, k);
        Tensor b = bias ? input(rng, out) : null;
        if (bias) check(name, t -> Convolution.conv2d(t[0], t[1], t[2], stride, pad, dil, groups), x, wt, b);
        else check(name, t -> Convolution.conv2d(t[0], t[1], null, stride, pad, dil, groups), x, wt);
    }

    @Test
    void batchNorm() {
        Tensor x = input(rng, 3, 4, 3, 3);
        Tensor w = input(rng, 4), b = input(rng, 4);
        check("bn-train", t -> Normalization.batchNorm(t[0], null, null, t[1], t[2], true, 0.1, 1e-5), x, w, b);
        check("bn-train-2d", t -> Normalization.batchNorm(t[0], null, null, t[1], t[2], true, 0.1, 1e-5), input(rng, 5, 4), w, b);
        Tensor rm = Tensor.of(new double[] {0.1, -0.2, 0.3, 0.0}, 4);
        Tensor rv = Tensor.of(new double[] {1.5, 0.5, 2.0, 1.0}, 4);
        check("bn-eval", t -> Normalization.batchNorm(t[0], rm, rv, t[1], t[2], false, 0.1, 1e-5), x, w, b);
        check("bn-train-noaffine", t -> Normalization.batchNorm(t[0], null, null, null, null, true, 0.1, 1e-5), x);
        // Fused with ReLU / ReLU6 (the kinks are met with probability 0 at these random inputs).
        check("bn-relu-train", t -> Normalization.batchNorm(t[0], null, null, t[1], t[2], true, 0.1, 1e-5, UnaryOp.RELU), x, w, b);
        check("bn-relu6-eval", t -> Normalization.batchNorm(t[0], rm, rv, t[1], t[2], false, 0.1, 1e-5, UnaryOp.RELU6),
                x.mul(4.0).detach().requiresGrad(true), w, b);
        Tensor r = input(rng, 3, 4, 3, 3);
        check("bn-add-relu-train", t -> Normalization.batchNormAddActivation(t[0], null, null, t[1], t[2], true, 0.1, 1e-5, t[3], UnaryOp.RELU),
                x, w, b, r);
        check("bn-add-relu6-eval", t -> Normalization.batchNormAddActivation(t[0], rm, rv, t[1], t[2], false, 0.1, 1e-5, t[3], UnaryOp.RELU6),
                x.mul(4.0).detach().requiresGrad(true), w, b, r);
    }

    @Test
    void pooling() {
        Tensor x = input(rng, 2, 3, 7, 7);
        check("maxpool-3-2-1", t -> Pooling.maxPool2d(t[0], 3, 2, 1), x);
        check("maxpool-2-2", t -> Pooling.maxPool2d(t[0], 2, 2, 0), x);
        check("maxpool-ceil-dilated", t -> Pooling.maxPool2d(t[0], new int[] {2, 2}, new int[] {2, 2}, new int[] {1, 1}, new int[] {2, 1}, true), x);
        check("avgpool-pad", t -> Pooling.avgPool2d(t[0], 3, 2, 1), x);
        check("avgpool-pad-exclude-ceil", t -> Pooling.avgPool2d(t[0], new int[] {3, 3}, new int[] {2, 2}, new int[] {1, 1}, true, false), x);
        check("adaptive-1", t -> Pooling.adaptiveAvgPool2d(t[0], 1, 1), x);
        check("adaptive-3x2", t -> Pooling.adaptiveAvgPool2d(t[0], 3, 2), x);
    }

    @Test
    void lossesAndDropout() {
        int[] targets = {2, 0, 4};
        check("cross-entropy", t -> Losses.crossEntropy(t[0], targets), input(rng, 3, 5));
        check("cross-entropy-smooth", t -> Losses.crossEntropy(t[0], targets, 0.1), input(rng, 3, 5));
        check("dropout", t -> Dropout.dropout(t[0], 0.3, true, new SplittableRandom(7)), input(rng, 4, 6));
    }

    @Test
    void shapes() {
        Tensor x = input(rng, 2, 3, 4);
        check("concat-0", t -> Concat.concat(List.of(t[0], t[1]), 0), x, input(rng, 1, 3, 4));
        check("concat-1", t -> Concat.concat(List.of(t[0], t[1], t[0]), 1), x, input(rng, 2, 2, 4));
        check("permute", t -> Elementwise.mul(t[0].permute(2, 0, 1), t[0].permute(2, 0, 1).add(1.0)), x);
        check("slice", t -> t[0].slice(2, 1, 3).mul(2.0), x);
        check("reshape-noncontiguous", t -> t[0].transpose(0, 2).reshape(4, 6), x);
        check("flatten", t -> Views.flatten(t[0], 1, 2), x);
        check("unsqueeze-squeeze-expand", t -> t[0].unsqueeze(1).expand(1, 5, 3, 4).squeeze(0).sum(new int[] {0}, false), input(rng, 1, 3, 4));
        check("reuse", t -> t[0].mul(t[0]).add(t[0].sigmoid()), x);
    }

    private Tensor positive(int... shape) {
        try (var _ = Autograd.noGrad()) {
            return Elementwise.add(Elementwise.unary(UnaryOp.ABS, input(rng, shape)), 0.5).detach().requiresGrad(true);
        }
    }
}
