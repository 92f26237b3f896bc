package dev.graft.models;

import dev.graft.GraftException;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2dNormActivation;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Dropout;
import dev.graft.nn.Init;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.nn.ReLU6;
import dev.graft.nn.Sequential;
import dev.graft.ops.Pooling;
import dev.graft.tensor.Tensor;

/**
 * torchvision 0.14's MobileNetV2: {@code features} = Sequential of a 3×3/2 Conv-BN-ReLU6 stem
 * ({@code features.0.0/.1/.2}), 17 {@link InvertedResidual} blocks ({@code features.1}…{@code features.17})
 * and a 1×1 Conv-BN-ReLU6 to 1280 channels ({@code features.18}); then global average pooling and
 * {@code classifier} = Sequential(Dropout(0.2), Linear(1280, classes)), so the classifier layer is
 * {@code classifier.1}. Channel counts are rounded with torchvision's {@code _make_divisible(v, 8)}.
 * Initialization as torchvision: convs kaiming_normal (fan_out), BatchNorm 1/0, Linear N(0, 0.01) and bias 0.
 */
public final class MobileNetV2 extends ImageClassifier {
    /** Expand ratio t, output channels c, repeats n, first stride s (torchvision's inverted_residual_setting). */
    private static final int[][] SETTING = {
            {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

    private final double widthMult;

    /** Width multiplier 1.0 and dropout 0.2 (torchvision's mobilenet_v2). */
    public MobileNetV2(int numClasses) {
        this(numClasses, 1.0, 0.2);
    }

    public MobileNetV2(int numClasses, double widthMult, double dropout) {
        super("mobilenet_v2", "classifier.1", makeDivisible(1280 * Math.max(1.0, widthMult), 8), Preprocessing.IMAGENET);
        if (numClasses <= 0) throw new GraftException("mobilenet_v2: number of classes must be positive, got " + numClasses);
        if (!(widthMult > 0)) throw new GraftException("mobilenet_v2: width multiplier must be positive, got " + widthMult);
        this.widthMult = widthMult;
        int in = makeDivisible(32 * widthMult, 8);
        Sequential features = new Sequential(convBnReLU6(3, in, 3, 2, 1));
        for (int[] s : SETTING) {
            int out = makeDivisible(s[1] * widthMult, 8);
            for (int i = 0; i < s[2]; i++) {
                features.add(new InvertedResidual(in, out, i == 0 ? s[3] : 1, s[0]));
                in = out;
            }
        }
        features.add(convBnReLU6(in, numFeatures(), 1, 1, 1));
        register("features", features);
        Linear head = new Linear(numFeatures(), numClasses, true);
        register("classifier", new Sequential(new Dropout(dropout), head));
        for (Module m : namedModules().values()) {
            if (m instanceof Conv2d c) {
                Init.kaimingNormal(c.weight(), 0, Init.FanMode.FAN_OUT);
                if (c.bias() != null) Init.zeros(c.bias());
            }
        }
        initClassifier(head);
    }

    /** torchvision's {@code _make_divisible}: v rounded to a multiple of divisor, never down by more than 10%. */
    static int makeDivisible(double v, int divisor) {
        int nv = Math.max(divisor, (int) (v + divisor / 2.0) / divisor * divisor);
        if (nv < 0.9 * v) nv += divisor;
        return nv;
    }

    /** Conv2d(no bias) + BatchNorm2d + ReLU6 with "same" padding: torchvision's Conv2dNormActivation. */
    static Sequential convBnReLU6(int in, int out, int kernel, int stride, int groups) {
        return new Conv2dNormActivation(new Conv2d(in, out, kernel, stride, (kernel - 1) / 2, 1, groups, false), new BatchNorm2d(out), new ReLU6());
    }

    public double widthMult() {
        return widthMult;
    }

    @Override
    public Tensor features(Tensor x) {
        return Pooling.adaptiveAvgPool2d(run("features", x), 1, 1).flatten(1, -1);
    }

    @Override
    public Tensor forward(Tensor x) {
        return run("classifier", features(x));
    }

    @Override
    protected void initClassifier(Linear head) {
        Init.normal(head.weight(), 0, 0.01);
        Init.zeros(head.bias());
    }

    /**
     * torchvision's InvertedResidual: {@code conv} = [1×1 expand Conv-BN-ReLU6 unless expandRatio is 1],
     * 3×3 depthwise Conv-BN-ReLU6 (carrying the stride), 1×1 linear projection conv, BatchNorm; the
     * input is added back when the stride is 1 and the channel count is unchanged.
     */
    public static final class InvertedResidual extends Module {
        private final boolean residual;

        public InvertedResidual(int in, int out, int stride, int expandRatio) {
            if (stride != 1 && stride != 2) throw new GraftException("InvertedResidual: stride must be 1 or 2, got " + stride);
            int hidden = (int) Math.round((double) in * expandRatio);
            residual = stride == 1 && in == out;
            Sequential conv = new Sequential();
            if (expandRatio != 1) conv.add(convBnReLU6(in, hidden, 1, 1, 1));
            conv.add(convBnReLU6(hidden, hidden, 3, stride, hidden));
            conv.add(new Conv2d(hidden, out, 1, 1, 0, false));
            conv.add(new BatchNorm2d(out));
            register("conv", conv);
        }

        /** Whether the block adds its input to its output. */
        public boolean residual() {
            return residual;
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = child("conv").forward(x);
            return residual ? x.add(y) : y;
        }
    }
}
