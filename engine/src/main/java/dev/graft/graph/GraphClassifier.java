package dev.graft.graph;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.models.ImageClassifier;
import dev.graft.models.Preprocessing;
import dev.graft.nn.Identity;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * An imported graph split for transfer learning: {@code backbone}, the graph up to its global average
 * pooling, and {@code classifier}, the {@link Linear} layer after it (a 1×1 convolution on the pooled
 * features becomes the equivalent Linear), or an {@link Identity} when the graph has no head (a feature
 * extractor). A softmax at the end of the graph is dropped: like every Graft classifier, this one
 * outputs logits.
 *
 * <p>State-dict keys are {@code backbone.<node module>.weight}, …, {@code classifier.weight},
 * {@code classifier.bias}.
 */
public final class GraphClassifier extends ImageClassifier {
    /** Ops that may stand between the pooling and the classifier, or after it, without changing the logits. */
    private static final Set<String> PASS_THROUGH = Set.of("flatten", "reshape", "identity", "dropout");

    private GraphClassifier(String architecture, GraphModule backbone, Module classifier, int numFeatures, Preprocessing preprocessing) {
        super(architecture, "classifier", numFeatures, preprocessing);
        register("backbone", backbone);
        register("classifier", classifier);
    }

    /**
     * Splits {@code graph} at its last {@code globalavgpool} (or {@code mean} over axes 2 and 3). What
     * follows must be a chain of pass-through ops, at most one {@code linear} or 1×1 {@code conv2d},
     * and an optional final {@code softmax}. Weights are shared with {@code graph}'s modules, except
     * a 1×1 convolution's, which are copied into the new Linear layer.
     *
     * @throws GraftException when the graph has no such pooling or the tail is something else
     */
    public static GraphClassifier split(String architecture, GraphModule graph, Preprocessing preprocessing) {
        List<GraphNode> nodes = graph.nodes();
        int pool = -1;
        for (int i = nodes.size() - 1; i >= 0 && pool < 0; i--) if (isGlobalPool(nodes.get(i))) pool = i;
        if (pool < 0)
            throw new GraftException(architecture + ": cannot find the global average pooling that ends the feature extractor");
        String value = nodes.get(pool).name();
        GraphNode head = null;
        List<GraphNode> tail = new ArrayList<>(nodes.subList(pool + 1, nodes.size()));
        for (int i = 0; i < tail.size(); i++) {
            GraphNode n = tail.get(i);
            if (!n.inputs().equals(List.of(value)))
                throw new GraftException(architecture + ": after the global pooling '" + nodes.get(pool).name() + "', node '" + n.name()
                        + "' (" + n.op() + ") does not continue a simple classifier chain");
            boolean last = i == tail.size() - 1;
            if (n.op().equals("softmax") && last) {
                // dropped: logits out
            } else if (isHead(n) && head == null) {
                head = n;
            } else if (!PASS_THROUGH.contains(n.op())) {
                throw new GraftException(architecture + ": node '" + n.name() + "' (" + n.op() + ") after the global pooling is not part of a classifier head");
            }
            value = n.name();
        }
        if (!tail.isEmpty() && !value.equals(graph.output()))
            throw new GraftException(architecture + ": the classifier chain does not end at the graph output '" + graph.output() + "'");
        GraphModule backbone = graph.subgraph(nodes.get(pool).name());
        Module classifier;
        int features;
        if (head == null) {
            classifier = new Identity();
            features = probeFeatures(backbone, preprocessing);
        } else {
            Linear linear = toLinear(graph, head);
            classifier = linear;
            features = linear.inFeatures();
        }
        GraphClassifier model = new GraphClassifier(architecture, backbone, classifier, features, preprocessing);
        model.train(graph.isTraining());
        return model;
    }

    private static boolean isGlobalPool(GraphNode n) {
        if (n.op().equals("globalavgpool")) return true;
        if (!n.op().equals("mean") || !n.boolAttr("keepdims", true)) return false;
        int[] axes = n.intsAttr("axes");
        return axes.length == 2 && Set.of(2, 3, -1, -2).contains(axes[0]) && Set.of(2, 3, -1, -2).contains(axes[1]) && axes[0] != axes[1];
    }

    private static boolean isHead(GraphNode n) {
        if (n.op().equals("linear")) return true;
        if (!n.op().equals("conv2d") || n.intAttr("groups", 1) != 1) return false;
        int[] k = n.intsAttr("kernel"), s = n.intsAttr("stride", new int[] {1, 1}), p = n.intsAttr("padding", new int[] {0, 0});
        return k[0] == 1 && k[1] == 1 && s[0] == 1 && s[1] == 1 && p[0] == 0 && p[1] == 0;
    }

    private static Linear toLinear(GraphModule graph, GraphNode head) {
        Module m = graph.module(graph.moduleName(head.name()));
        if (m instanceof Linear l) return l;
        boolean bias = head.boolAttr("bias", true);
        Linear linear = new Linear(head.intAttr("in"), head.intAttr("out"), bias);
        try (var _ = Autograd.noGrad()) {
            Tensor w = m.getParameter("weight");
            linear.weight().copyFrom(Views.reshape(w.contiguous(), head.intAttr("out"), head.intAttr("in")));
            if (bias) linear.bias().copyFrom(m.getParameter("bias"));
        }
        Tensor any = m.getParameter("weight");
        linear.to(any.backend());
        return linear;
    }

    /** Width of the pooled features, from one forward pass of a blank image at the model's input size. */
    private static int probeFeatures(GraphModule backbone, Preprocessing p) {
        boolean training = backbone.isTraining();
        backbone.eval();
        try (var _ = Autograd.noGrad()) {
            Tensor any = backbone.namedParameters().values().stream().findFirst().orElse(null);
            Tensor x = any == null ? Tensor.zeros(1, 3, p.inputSize(), p.inputSize()) : any.newZeros(1, 3, p.inputSize(), p.inputSize());
            return backbone.forward(x).numel();
        } finally {
            backbone.train(training);
        }
    }

    /** The graph up to and including the global pooling. */
    public GraphModule backbone() {
        return (GraphModule) module("backbone");
    }

    @Override
    public Tensor features(Tensor x) {
        return Views.flatten(backbone().forward(x), 1, -1);
    }

    @Override
    public Tensor forward(Tensor x) {
        return classifier().forward(features(x));
    }

    /** Keeps the Linear layer's own PyTorch-style initialization. */
    @Override
    protected void initClassifier(Linear head) {}
}
