package dev.graft.zoo.tflite;

import static dev.graft.zoo.tflite.TfliteSchema.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.graph.GraphModule;
import dev.graft.graph.GraphNode;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Each converted operator on small synthetic models, against a naive NHWC reference written here:
 * layouts, TF's SAME padding, depthwise multipliers, float16 and per-channel int8 weights, and the
 * activations inferred from quantization ranges.
 */
class TfliteOpsTest {
    private final Random rng = new Random(42);

    private float[] random(int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        return v;
    }

    static Tensor nchw(float[] nhwc, int[] s) {
        int h = s[1], w = s[2], c = s[3];
        float[] out = new float[nhwc.length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = nhwc[(y * w + x) * c + ch];
        return Tensor.of(out, 1, c, h, w);
    }

    static float[] nhwc(Tensor nchw) {
        int[] s = nchw.shape();
        int c = s[1], h = s[2], w = s[3];
        float[] in = nchw.toFloatArray(), out = new float[in.length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = in[(ch * h + y) * w + x];
        return out;
    }

    static Tensor forward(TfliteModel m, Tensor x) {
        try (var _ = dev.graft.autograd.Autograd.noGrad()) {
            return m.graph().orElseThrow().forward(x);
        }
    }

    /** Naive NHWC convolution; depthwise filters are [1, KH, KW, C·M]. */
    static float[] convRef(float[] x, int[] xs, float[] w, int[] ws, float[] bias, int sh, int sw, int padTop, int padLeft, int oh, int ow,
            boolean depthwise) {
        int h = xs[1], wd = xs[2], c = xs[3], kh = ws[1], kw = ws[2];
        int out = depthwise ? ws[3] : ws[0], mult = depthwise ? out / c : 0;
        float[] y = new float[oh * ow * out];
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int o = 0; o < out; o++) {
                    double s = bias == null ? 0 : bias[o];
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            int iy = oy * sh + ky - padTop, ix = ox * sw + kx - padLeft;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            if (depthwise) s += x[(iy * wd + ix) * c + o / mult] * w[(ky * kw + kx) * out + o];
                            else for (int i = 0; i < c; i++) s += x[(iy * wd + ix) * c + i] * w[((o * kh + ky) * kw + kx) * c + i];
                        }
                    y[(oy * ow + ox) * out + o] = (float) s;
                }
        return y;
    }

    /** Equal within {@code tol}, relative to the magnitude for values above 1. */
    static void assertClose(float[] actual, float[] expected, double tol) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++)
            assertThat((double) actual[i]).as("element %d", i)
                    .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(tol * Math.max(1, Math.abs(expected[i]))));
    }

    @Test
    void convWithTfSamePaddingSplitUnevenly() {
        int[] xs = {1, 6, 7, 2}, ws = {3, 3, 3, 2};
        float[] x = random(84, 2), w = random(54, 1), b = random(3, 1);
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int wt = t.floats("w", ws, w), bt = t.floats("b", new int[] {3}, b);
        int out = t.activation("y", 1, 3, 4, 3);
        t.op(CONV_2D, new int[] {in, wt, bt}, new int[] {out}, TinyTflite.conv(PADDING_SAME, 2, 2, ACT_RELU));
        TfliteModel m = t.io(in, out).model();
        GraphModule g = m.graph().orElseThrow();
        // height 6, stride 2: TF pads 0 above, 1 below (a pad node); width 7: 1 and 1
        assertThat(g.nodes().getFirst().op()).isEqualTo("pad");
        assertThat(g.nodes().getFirst().intsAttr("pads")).containsExactly(0, 1, 1, 1);
        float[] expected = convRef(x, xs, w, ws, b, 2, 2, 0, 1, 3, 4, false);
        for (int i = 0; i < expected.length; i++) expected[i] = Math.max(0, expected[i]);
        assertClose(nhwc(forward(m, nchw(x, xs))), expected, 1e-5);
    }

    @Test
    void depthwiseWithMultiplierAndFloat16Weights() {
        int[] xs = {1, 5, 5, 2}, ws = {1, 3, 3, 4};
        float[] x = random(50, 1), w = random(36, 1), b = random(4, 1);
        ByteBuffer half = ByteBuffer.allocate(72).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < w.length; i++) {
            short h = Float.floatToFloat16(w[i]);
            half.putShort(h);
            w[i] = Float.float16ToFloat(h);
        }
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int wt = t.tensor("w", TinyTflite.F16, ws, half.array(), null);
        int bt = t.floats("b", new int[] {4}, b);
        int out = t.activation("y", 1, 3, 3, 4);
        t.op(DEPTHWISE_CONV_2D, new int[] {in, wt, bt}, new int[] {out}, TinyTflite.depthwise(PADDING_VALID, 1, 1, 2, ACT_NONE));
        TfliteModel m = t.io(in, out).model();
        GraphNode conv = m.graph().orElseThrow().nodes().getFirst();
        assertThat(conv.intAttr("groups")).isEqualTo(2);
        assertThat(conv.intAttr("out")).isEqualTo(4);
        assertClose(nhwc(forward(m, nchw(x, xs))), convRef(x, xs, w, ws, b, 1, 1, 0, 0, 3, 3, true), 1e-5);
    }

    @Test
    void fullyConnectedFlattensInNhwcOrderAndSoftmaxHonoursBeta() {
        int[] xs = {1, 2, 2, 3};
        float[] x = random(12, 1), w = random(48, 1), b = random(4, 1);
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int wt = t.floats("w", new int[] {4, 12}, w), bt = t.floats("b", new int[] {4}, b);
        int fc = t.activation("fc", 1, 4), out = t.activation("prob", 1, 4);
        t.op(FULLY_CONNECTED, new int[] {in, wt, bt}, new int[] {fc}, FbBuilder.table().i8(0, ACT_NONE));
        t.op(SOFTMAX, new int[] {fc}, new int[] {out}, FbBuilder.table().f32(0, 0.5f));
        TfliteModel m = t.io(in, out).model();
        double[] z = new double[4];
        double sum = 0;
        for (int o = 0; o < 4; o++) {
            z[o] = b[o];
            for (int i = 0; i < 12; i++) z[o] += w[o * 12 + i] * x[i];
            sum += Math.exp(0.5 * z[o]);
        }
        float[] expected = new float[4];
        for (int o = 0; o < 4; o++) expected[o] = (float) (Math.exp(0.5 * z[o]) / sum);
        assertClose(forward(m, nchw(x, xs)).toFloatArray(), expected, 1e-6);
    }

    @Test
    void elementwiseConcatPadAndPooling() {
        int[] xs = {1, 4, 4, 2};
        float[] x = random(32, 1), c = {0.5f, -0.25f};
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int ct = t.floats("c", new int[] {2}, c);
        int a = t.activation("a", xs), mu = t.activation("m", xs), cat = t.activation("cat", 1, 4, 4, 4);
        int pads = t.ints("paddings", new int[] {4, 2}, 0, 0, 1, 1, 0, 2, 0, 0);
        int p = t.activation("p", 1, 6, 6, 4), q = t.activation("q", 1, 6, 6, 4), r = t.activation("r", 1, 3, 3, 4);
        t.op(ADD, new int[] {in, ct}, new int[] {a}, FbBuilder.table().i8(0, ACT_NONE));
        t.op(MUL, new int[] {a, in}, new int[] {mu}, FbBuilder.table().i8(0, ACT_NONE));
        t.op(CONCATENATION, new int[] {a, mu}, new int[] {cat}, FbBuilder.table().i32(0, -1).i8(1, ACT_NONE));
        t.op(PAD, new int[] {cat, pads}, new int[] {p}, null);
        t.op(MAX_POOL_2D, new int[] {p}, new int[] {q}, TinyTflite.pool(PADDING_SAME, 1, 1, 3, 3, ACT_NONE));
        t.op(AVERAGE_POOL_2D, new int[] {q}, new int[] {r}, TinyTflite.pool(PADDING_VALID, 2, 2, 2, 2, ACT_NONE));
        TfliteModel m = t.io(in, r).model();
        // reference in NHWC
        float[] cc = new float[4 * 4 * 4];
        for (int i = 0; i < 16; i++)
            for (int k = 0; k < 2; k++) {
                float av = x[i * 2 + k] + c[k];
                cc[i * 4 + k] = av;
                cc[i * 4 + 2 + k] = av * x[i * 2 + k];
            }
        float[] pp = new float[6 * 6 * 4];
        for (int y = 0; y < 4; y++)
            for (int xx = 0; xx < 4; xx++) System.arraycopy(cc, (y * 4 + xx) * 4, pp, ((y + 1) * 6 + xx) * 4, 4);
        float[] qq = new float[6 * 6 * 4];
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 6; xx++)
                for (int k = 0; k < 4; k++) {
                    float mx = Float.NEGATIVE_INFINITY;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy, xq = xx + dx;
                            if (yy >= 0 && yy < 6 && xq >= 0 && xq < 6) mx = Math.max(mx, pp[(yy * 6 + xq) * 4 + k]);
                        }
                    qq[(y * 6 + xx) * 4 + k] = mx;
                }
        float[] rr = new float[3 * 3 * 4];
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 3; xx++)
                for (int k = 0; k < 4; k++) {
                    float s = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) s += qq[((2 * y + dy) * 6 + 2 * xx + dx) * 4 + k];
                    rr[(y * 3 + xx) * 4 + k] = s / 4;
                }
        assertClose(nhwc(forward(m, nchw(x, xs))), rr, 1e-6);
    }

    @Test
    void reshapeToRankFourKeepsTfliteElementOrder() {
        int[] xs = {1, 2, 3, 4};
        float[] x = random(24, 1);
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int shape = t.ints("shape", new int[] {4}, 1, 3, 2, 4);
        int out = t.activation("y", 1, 3, 2, 4);
        t.op(RESHAPE, new int[] {in, shape}, new int[] {out}, FbBuilder.table().ref(0, FbBuilder.ints(1, 3, 2, 4)));
        TfliteModel m = t.io(in, out).model();
        Tensor y = forward(m, nchw(x, xs));
        assertThat(y.shape()).containsExactly(1, 4, 3, 2);
        assertClose(nhwc(y), x, 0);
    }

    @Test
    void meanOverOneAxisThenSqueeze() {
        int[] xs = {1, 2, 3, 4};
        float[] x = random(24, 1);
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int axes = t.ints("axes", new int[] {1}, 2);
        int mean = t.activation("mean", 1, 2, 1, 4), out = t.activation("sq", 1, 2, 4);
        t.op(MEAN, new int[] {in, axes}, new int[] {mean}, FbBuilder.table().i8(0, 1));
        t.op(SQUEEZE, new int[] {mean}, new int[] {out}, FbBuilder.table().ref(0, FbBuilder.ints(2)));
        TfliteModel m = t.io(in, out).model();
        float[] expected = new float[8];
        for (int y = 0; y < 2; y++)
            for (int k = 0; k < 4; k++) {
                float s = 0;
                for (int xx = 0; xx < 3; xx++) s += x[(y * 3 + xx) * 4 + k];
                expected[y * 4 + k] = s / 3;
            }
        Tensor y = forward(m, nchw(x, xs));
        assertThat(y.shape()).containsExactly(1, 2, 4);
        assertClose(y.toFloatArray(), expected, 1e-6);
    }

    @Test
    void spatialMeanIsAGlobalPoolForTheClassifierSplit() {
        int[] xs = {1, 3, 3, 4};
        float[] x = random(36, 1);
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", xs);
        int axes = t.ints("axes", new int[] {2}, 1, 2);
        int out = t.activation("pooled", 1, 4);
        t.op(MEAN, new int[] {in, axes}, new int[] {out}, FbBuilder.table().i8(0, 0));
        TfliteModel m = t.io(in, out).model();
        assertThat(m.graph().orElseThrow().nodes()).extracting(GraphNode::op).containsExactly("globalavgpool", "flatten");
        float[] expected = new float[4];
        for (int i = 0; i < 9; i++) for (int k = 0; k < 4; k++) expected[k] += x[i * 4 + k] / 9;
        assertClose(forward(m, nchw(x, xs)).toFloatArray(), expected, 1e-6);
    }

    /** uint8 activations, int8 per-channel weights, int32 per-channel bias; returns the graph's op list. */
    private TfliteModel quantizedConv(float outScale, long outZeroPoint, int act, float[] x) {
        TinyTflite t = new TinyTflite();
        int in = t.tensor("x", TinyTflite.U8, new int[] {1, 3, 3, 2}, null, TinyTflite.quant(new float[] {0.05f}, new long[] {10}, 0));
        byte[] w = {10, -20, 30, 40, -50, 60, 70, -80};
        int wt = t.tensor("w", TinyTflite.I8, new int[] {4, 1, 1, 2}, w,
                TinyTflite.quant(new float[] {0.1f, 0.02f, 0.5f, 0.01f}, new long[] {0, 0, 0, 0}, 0));
        ByteBuffer bias = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(100).putInt(-300).putInt(7).putInt(0);
        int bt = t.tensor("b", TinyTflite.I32, new int[] {4}, bias.array(),
                TinyTflite.quant(new float[] {0.005f, 0.001f, 0.025f, 0.0005f}, new long[] {0, 0, 0, 0}, 0));
        int out = t.tensor("y", TinyTflite.U8, new int[] {1, 3, 3, 4}, null, TinyTflite.quant(new float[] {outScale}, new long[] {outZeroPoint}, 0));
        t.op(CONV_2D, new int[] {in, wt, bt}, new int[] {out}, TinyTflite.conv(PADDING_VALID, 1, 1, act));
        TfliteModel m = t.io(in, out).model();
        // reference on the dequantized weights
        float[] wf = new float[8], scales = {0.1f, 0.02f, 0.5f, 0.01f}, bf = new float[4];
        for (int i = 0; i < 8; i++) wf[i] = (float) ((double) scales[i / 2] * w[i]);
        int[] braw = {100, -300, 7, 0};
        float[] bscale = {0.005f, 0.001f, 0.025f, 0.0005f};
        for (int i = 0; i < 4; i++) bf[i] = (float) ((double) bscale[i] * braw[i]);
        float[] ref = convRef(x, new int[] {1, 3, 3, 2}, wf, new int[] {4, 1, 1, 2}, bf, 1, 1, 0, 0, 3, 3, false);
        String last = m.graph().orElseThrow().nodes().getLast().op();
        for (int i = 0; i < ref.length; i++) {
            if (last.equals("relu6")) ref[i] = Math.min(6, Math.max(0, ref[i]));
            else if (last.equals("relu")) ref[i] = Math.max(0, ref[i]);
        }
        assertClose(nhwc(forward(m, nchw(x, new int[] {1, 3, 3, 2}))), ref, 1e-5);
        return m;
    }

    @Test
    void quantizedWeightsDequantizePerChannelAndFoldedActivationsAreInferred() {
        float[] x = random(18, 30);
        // TOCO style: no fused activation, output range [0, 6] -> ReLU6
        assertThat(quantizedConv(6f / 255, 0, ACT_NONE, x).graph().orElseThrow().nodes()).extracting(GraphNode::op).containsExactly("conv2d", "relu6");
        // range [0, 25.5] -> ReLU
        assertThat(quantizedConv(0.1f, 0, ACT_NONE, x).graph().orElseThrow().nodes()).extracting(GraphNode::op).containsExactly("conv2d", "relu");
        // a range below zero: linear
        assertThat(quantizedConv(0.1f, 128, ACT_NONE, x).graph().orElseThrow().nodes()).extracting(GraphNode::op).containsExactly("conv2d");
        // an explicit fused activation wins
        assertThat(quantizedConv(0.1f, 128, ACT_RELU6, x).graph().orElseThrow().nodes()).extracting(GraphNode::op).containsExactly("conv2d", "relu6");
    }

    @Test
    void unsupportedOperatorIsNamed() {
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", 1, 4, 4, 3), out = t.activation("resized", 1, 8, 8, 3);
        int size = t.ints("size", new int[] {2}, 8, 8);
        t.op(23, new int[] {in, size}, new int[] {out}, null);
        TfliteModel m = t.io(in, out).model();
        assertThat(m.operatorCounts()).containsEntry("RESIZE_BILINEAR", 1);
        assertThatThrownBy(m::graph).isInstanceOf(ImportException.class)
                .hasMessage("tiny.tflite: operator 0 (RESIZE_BILINEAR -> 'resized'): operator RESIZE_BILINEAR is not supported by the TFLite importer");
    }

    @Test
    void unevenSamePaddingForPoolingIsRejected() {
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", 1, 4, 4, 3), out = t.activation("pooled", 1, 2, 2, 3);
        t.op(MAX_POOL_2D, new int[] {in}, new int[] {out}, TinyTflite.pool(PADDING_SAME, 2, 2, 3, 3, ACT_NONE));
        assertThatThrownBy(() -> t.io(in, out).model().graph()).isInstanceOf(ImportException.class)
                .hasMessageContaining("operator 0 (MAX_POOL_2D -> 'pooled')").hasMessageContaining("SAME padding that TF splits unevenly");
    }

    @Test
    void declaredShapeThatDisagreesIsRejected() {
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", 1, 4, 4, 3), out = t.activation("pooled", 1, 3, 3, 3);
        t.op(AVERAGE_POOL_2D, new int[] {in}, new int[] {out}, TinyTflite.pool(PADDING_VALID, 2, 2, 2, 2, ACT_NONE));
        assertThatThrownBy(() -> t.io(in, out).model().graph()).isInstanceOf(ImportException.class)
                .hasMessage("tiny.tflite: operator 0 (AVERAGE_POOL_2D -> 'pooled'): computes shape [1, 2, 2, 3] but the file declares 'pooled' F32 [1, 3, 3, 3]");
    }

    @Test
    void builtModelDescribesItself() {
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", 1, 2, 2, 3), out = t.activation("y", 1, 2, 2, 3);
        t.op(RELU6, new int[] {in}, new int[] {out}, null);
        TfliteModel m = t.io(in, out).model();
        assertThat(m.describe()).contains("description 'test model'").contains("operators: RELU6 x1").contains("input  'x' F32 [1, 2, 2, 3]");
        assertThat(m.preprocessing()).isPresent();
        assertThat(m.stateDict()).isEmpty();
    }
}
