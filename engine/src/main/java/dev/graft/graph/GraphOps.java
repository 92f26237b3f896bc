package dev.graft.graph;

import dev.graft.GraftException;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Linear;
import dev.graft.nn.Module;
import dev.graft.ops.Concat;
import dev.graft.ops.Elementwise;
import dev.graft.ops.Pooling;
import dev.graft.ops.Reductions;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The operations a {@link GraphModule} runs, on NCHW float32 values. Attributes (all optional unless
 * marked *):
 * <ul>
 * <li>{@code conv2d}: in*, out*, kernel* [kh, kw], stride [1, 1], padding [0, 0], dilation [1, 1],
 *     groups 1, bias true — an {@link Conv2d} with parameters {@code weight}, {@code bias};
 * <li>{@code batchnorm}: channels*, eps 1e-5, momentum 0.1 — a {@link BatchNorm2d};
 * <li>{@code linear}: in*, out*, bias true — a {@link Linear};
 * <li>{@code const}: shape* — a {@link Constant} (buffer {@code value});
 * <li>{@code relu}, {@code relu6}, {@code sigmoid}, {@code tanh}, {@code silu}, {@code hardswish},
 *     {@code hardsigmoid}, {@code identity}, {@code dropout} (identity: graphs run as in inference);
 * <li>{@code clip}: min, max (missing = unbounded);
 * <li>{@code add}, {@code sub}, {@code mul}, {@code div}: two inputs, broadcasting;
 * <li>{@code concat}: axis*;
 * <li>{@code maxpool}: kernel*, stride (= kernel), padding [0, 0], dilation [1, 1], ceil false;
 * <li>{@code avgpool}: kernel*, stride (= kernel), padding [0, 0], ceil false, count_include_pad true;
 * <li>{@code globalavgpool}: (N, C, H, W) → (N, C, 1, 1);
 * <li>{@code mean}: axes*, keepdims true;
 * <li>{@code flatten}: start 1, end −1;
 * <li>{@code reshape}: shape* (one −1 allowed); {@code permute}: order*;
 * <li>{@code softmax}: axis −1;
 * <li>{@code pad}: pads* [top, bottom, left, right] of zeros.
 * </ul>
 */
public final class GraphOps {
    private GraphOps() {}

    /** Every op name a graph may use. */
    public static final Set<String> OPS = Set.of("conv2d", "batchnorm", "linear", "const", "relu", "relu6", "sigmoid", "tanh",
            "silu", "hardswish", "hardsigmoid", "identity", "dropout", "clip", "add", "sub", "mul", "div", "concat", "maxpool",
            "avgpool", "globalavgpool", "mean", "flatten", "reshape", "permute", "softmax", "pad");

    /** Ops that own a module (parameters or buffers). */
    public static boolean hasModule(String op) {
        return switch (op) {
            case "conv2d", "batchnorm", "linear", "const" -> true;
            default -> false;
        };
    }

    /** A fresh module for a node whose op {@link #hasModule has one}. */
    static Module createModule(GraphNode n) {
        return switch (n.op()) {
            case "conv2d" -> new Conv2d(n.intAttr("in"), n.intAttr("out"), n.intsAttr("kernel"), n.intsAttr("stride", new int[] {1, 1}),
                    n.intsAttr("padding", new int[] {0, 0}), n.intsAttr("dilation", new int[] {1, 1}), n.intAttr("groups", 1),
                    n.boolAttr("bias", true));
            case "batchnorm" -> new BatchNorm2d(n.intAttr("channels"), n.doubleAttr("eps", 1e-5), n.doubleAttr("momentum", 0.1));
            case "linear" -> new Linear(n.intAttr("in"), n.intAttr("out"), n.boolAttr("bias", true));
            case "const" -> new Constant(n.intsAttr("shape"));
            default -> throw new IllegalArgumentException("op " + n.op() + " has no module");
        };
    }

    /** Checks the node's op and arity before the graph runs. */
    static void validate(GraphNode n) {
        if (!OPS.contains(n.op())) throw new GraftException("graph node '" + n.name() + "' has an unknown op '" + n.op() + "'");
        int arity = switch (n.op()) {
            case "const" -> 0;
            case "add", "sub", "mul", "div" -> 2;
            case "concat" -> -1;
            default -> 1;
        };
        if (arity >= 0 && n.inputs().size() != arity)
            throw new GraftException("graph node '" + n.name() + "' (" + n.op() + ") takes " + arity + " input(s), got " + n.inputs());
        if (arity < 0 && n.inputs().isEmpty()) throw new GraftException("graph node '" + n.name() + "' (concat) has no inputs");
    }

    /** Runs one node; {@code module} is the node's module or null. */
    static Tensor run(GraphNode n, Module module, List<Tensor> in) {
        Tensor x = in.isEmpty() ? null : in.get(0);
        return switch (n.op()) {
            case "conv2d", "batchnorm", "linear", "const" -> module.forward(x);
            case "relu" -> Elementwise.relu(x);
            case "relu6" -> Elementwise.relu6(x);
            case "sigmoid" -> Elementwise.sigmoid(x);
            case "tanh" -> Elementwise.tanh(x);
            case "silu" -> Elementwise.silu(x);
            case "hardswish" -> Elementwise.hardswish(x);
            case "hardsigmoid" -> Elementwise.hardsigmoid(x);
            case "identity", "dropout" -> x;
            case "clip" -> clip(x, n.doubleAttr("min", Double.NEGATIVE_INFINITY), n.doubleAttr("max", Double.POSITIVE_INFINITY));
            case "add" -> Elementwise.add(x, in.get(1));
            case "sub" -> Elementwise.sub(x, in.get(1));
            case "mul" -> Elementwise.mul(x, in.get(1));
            case "div" -> Elementwise.div(x, in.get(1));
            case "concat" -> Concat.concat(in, n.intAttr("axis"));
            case "maxpool" -> {
                int[] k = n.intsAttr("kernel");
                yield Pooling.maxPool2d(x, k, n.intsAttr("stride", k), n.intsAttr("padding", new int[] {0, 0}),
                        n.intsAttr("dilation", new int[] {1, 1}), n.boolAttr("ceil", false));
            }
            case "avgpool" -> {
                int[] k = n.intsAttr("kernel");
                yield Pooling.avgPool2d(x, k, n.intsAttr("stride", k), n.intsAttr("padding", new int[] {0, 0}), n.boolAttr("ceil", false),
                        n.boolAttr("count_include_pad", true));
            }
            case "globalavgpool" -> {
                if (x.dim() != 4) throw new GraftException("graph node '" + n.name() + "' (globalavgpool) needs NCHW input, got " + Arrays.toString(x.shape()));
                yield Pooling.adaptiveAvgPool2d(x, 1, 1);
            }
            case "mean" -> Reductions.mean(x, n.intsAttr("axes"), n.boolAttr("keepdims", true));
            case "flatten" -> Views.flatten(x, n.intAttr("start", 1), n.intAttr("end", -1));
            case "reshape" -> Views.reshape(x.contiguous(), n.intsAttr("shape"));
            case "permute" -> Views.permute(x, n.intsAttr("order"));
            case "softmax" -> Reductions.softmax(x, n.intAttr("axis", -1));
            case "pad" -> {
                int[] p = n.intsAttr("pads");
                if (p.length != 4) throw new GraftException("graph node '" + n.name() + "' (pad) needs pads [top, bottom, left, right], got " + Arrays.toString(p));
                yield Views.pad2d(x, p[0], p[1], p[2], p[3]);
            }
            default -> throw new GraftException("graph node '" + n.name() + "' has an unknown op '" + n.op() + "'");
        };
    }

    /** clamp(x, lo, hi) = lo + relu(x − lo) − relu(x − hi), differentiable through the two kinks as PyTorch. */
    static Tensor clip(Tensor x, double lo, double hi) {
        if (lo == 0 && hi == 6) return Elementwise.relu6(x);
        Tensor y = x;
        if (lo != Double.NEGATIVE_INFINITY) y = Elementwise.add(Elementwise.relu(Elementwise.add(y, -lo)), lo);
        if (hi != Double.POSITIVE_INFINITY) y = Elementwise.rsub(hi, Elementwise.relu(Elementwise.rsub(hi, y)));
        return y;
    }
}
