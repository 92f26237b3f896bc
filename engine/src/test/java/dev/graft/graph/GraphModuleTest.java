package dev.graft.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.models.Preprocessing;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Identity;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.ops.Elementwise;
import dev.graft.ops.Pooling;
import dev.graft.ops.Reductions;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GraphModuleTest {
    private static GraphNode node(String name, String op, List<String> inputs, Map<String, Object> attrs) {
        return new GraphNode(name, op, inputs, attrs);
    }

    /** stem conv (asymmetric SAME pad) → BN → relu6 → depthwise conv + residual add → pool → 1×1 conv head → softmax. */
    private static GraphModule sample(boolean withHead) {
        var nodes = new java.util.ArrayList<>(List.of(
                node("pad0", "pad", List.of("image"), Map.of("pads", new int[] {0, 1, 0, 1})),
                node("stem/conv", "conv2d", List.of("pad0"), Map.of("in", 3, "out", 4, "kernel", new int[] {3, 3}, "stride", new int[] {2, 2}, "bias", false)),
                node("stem/bn", "batchnorm", List.of("stem/conv"), Map.of("channels", 4, "eps", 1e-3)),
                node("stem/act", "relu6", List.of("stem/bn"), Map.of()),
                node("dw", "conv2d", List.of("stem/act"), Map.of("in", 4, "out", 4, "kernel", new int[] {3, 3}, "padding", new int[] {1, 1}, "groups", 4)),
                node("dw/clip", "clip", List.of("dw"), Map.of("min", -1.0, "max", 2.0)),
                node("res", "add", List.of("dw/clip", "stem/act"), Map.of()),
                node("pool", "globalavgpool", List.of("res"), Map.of())));
        if (withHead) {
            nodes.add(node("logits", "conv2d", List.of("pool"), Map.of("in", 4, "out", 5, "kernel", new int[] {1, 1})));
            nodes.add(node("flat", "reshape", List.of("logits"), Map.of("shape", new int[] {-1, 5})));
            nodes.add(node("prob", "softmax", List.of("flat"), Map.of("axis", 1)));
        }
        GraphModule g = new GraphModule("image", withHead ? "prob" : "pool", nodes);
        // non-trivial BN statistics
        var rng = new SplittableRandom(3);
        try (var _ = Autograd.noGrad()) {
            BatchNorm2d bn = (BatchNorm2d) g.module("stem_bn");
            bn.runningMean().copyFrom(Tensor.randn(rng, 4));
            bn.runningVar().copyFrom(Elementwise.add(Elementwise.unary(dev.graft.backend.UnaryOp.ABS, Tensor.randn(rng, 4)), 0.5));
        }
        return g;
    }

    @Test
    void runsLikeTheSameOpsWrittenOut() {
        GraphModule g = sample(true);
        g.eval();
        Tensor x = Tensor.randn(new SplittableRandom(1), 2, 3, 9, 9);
        Module conv = g.module("stem_conv"), bn = g.module("stem_bn"), dw = g.module("dw"), head = g.module("logits");
        Tensor a = Elementwise.relu6(bn.forward(conv.forward(Views.pad2d(x, 0, 1, 0, 1))));
        Tensor d = dw.forward(a);
        Tensor clipped = Elementwise.add(Elementwise.relu(Elementwise.add(d, 1.0)), -1.0);
        clipped = Elementwise.rsub(2.0, Elementwise.relu(Elementwise.rsub(2.0, clipped)));
        Tensor pooled = Pooling.adaptiveAvgPool2d(Elementwise.add(clipped, a), 1, 1);
        Tensor expected = Reductions.softmax(Views.reshape(head.forward(pooled), -1, 5), 1);
        assertThat(g.forward(x).toFloatArray()).containsExactly(expected.toFloatArray());
        assertThat(g.stateDict()).containsKeys("stem_conv.weight", "stem_bn.running_mean", "dw.weight", "dw.bias", "logits.weight");
    }

    @Test
    void specRoundTripRebuildsTheSameNetwork() throws Exception {
        GraphModule g = sample(true);
        g.eval();
        String json = new ObjectMapper().writeValueAsString(g.spec());
        GraphModule back = GraphModule.fromSpec(new ObjectMapper().readTree(json));
        back.loadStateDict(g.stateDict());
        back.eval();
        Tensor x = Tensor.randn(new SplittableRandom(2), 1, 3, 8, 8);
        assertThat(back.forward(x).toFloatArray()).containsExactly(g.forward(x).toFloatArray());
        assertThat(back.summary()).isEqualTo(g.summary());
    }

    @Test
    void splitGivesLogitsBeforeTheSoftmaxAndALinearHead() {
        GraphModule g = sample(true);
        g.eval();
        GraphClassifier c = GraphClassifier.split("sample", g, Preprocessing.IMAGENET);
        c.eval();
        assertThat(c.classifier()).isInstanceOf(Linear.class);
        assertThat(c.numFeatures()).isEqualTo(4);
        assertThat(c.numClasses()).isEqualTo(5);
        Tensor x = Tensor.randn(new SplittableRandom(4), 2, 3, 9, 9);
        float[] probs = g.forward(x).toFloatArray();
        float[] fromLogits = Reductions.softmax(c.forward(x), 1).toFloatArray();
        for (int i = 0; i < probs.length; i++) assertThat(fromLogits[i]).isCloseTo(probs[i], org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(c.stateDict()).containsKeys("backbone.stem_conv.weight", "classifier.weight", "classifier.bias")
                .doesNotContainKey("backbone.logits.weight");
        // freezing the backbone leaves the head trainable
        c.freezeBackbone();
        assertThat(c.trainableParameters()).containsExactlyInAnyOrder(c.classifier().getParameter("weight"), c.classifier().getParameter("bias"));
        assertThat(((BatchNorm2d) c.backbone().module("stem_bn")).statsFrozen()).isTrue();
    }

    @Test
    void headlessGraphBecomesAFeatureExtractor() {
        GraphClassifier c = GraphClassifier.split("extractor", sample(false), new Preprocessing(12, 12, 12,
                new double[] {0.5, 0.5, 0.5}, new double[] {0.5, 0.5, 0.5}, "bilinear"));
        assertThat(c.classifier()).isInstanceOf(Identity.class);
        assertThat(c.numFeatures()).isEqualTo(4);
        Linear head = c.replaceClassifier(2);
        assertThat(c.forward(Tensor.randn(new SplittableRandom(5), 3, 3, 12, 12)).shape()).containsExactly(3, 2);
        assertThat(head.inFeatures()).isEqualTo(4);
        assertThat(((Conv2d) c.backbone().module("stem_conv")).getParameter("weight").shape()).containsExactly(4, 3, 3, 3);
    }

    @Test
    void badGraphsAreRefusedWithTheNodeNamed() {
        assertThatThrownBy(() -> new GraphModule("x", "y", List.of(node("y", "relu", List.of("z"), Map.of()))))
                .isInstanceOf(GraftException.class).hasMessageContaining("'y'").hasMessageContaining("'z'");
        assertThatThrownBy(() -> new GraphModule("x", "y", List.of(node("y", "warp", List.of("x"), Map.of()))))
                .isInstanceOf(GraftException.class).hasMessageContaining("unknown op 'warp'");
        assertThatThrownBy(() -> new GraphModule("x", "y", List.of(node("y", "add", List.of("x"), Map.of()))))
                .isInstanceOf(GraftException.class).hasMessageContaining("takes 2 input(s)");
        assertThatThrownBy(() -> GraphClassifier.split("m", new GraphModule("x", "y", List.of(node("y", "relu", List.of("x"), Map.of()))),
                Preprocessing.IMAGENET)).isInstanceOf(GraftException.class).hasMessageContaining("global average pooling");
    }
}
