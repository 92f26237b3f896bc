package dev.graft.zoo.onnx;

import dev.graft.graph.GraphNode;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.onnx.proto.OnnxProto.AttributeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.NodeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorShapeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ValueInfoProto;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Translates an ONNX graph into {@link GraphNode}s (see {@link OnnxModel} for the supported
 * operators). Values known at import time ({@link Const}) are folded; the rest become graph nodes.
 * Shapes are tracked where they can be inferred (dynamic dimensions as symbols) so that {@code Shape}
 * arithmetic, {@code Reshape}, {@code auto_pad} and {@code Flatten} resolve to static attributes.
 * Every problem is an {@link ImportException} naming the node, its op type and the offending value.
 */
final class OnnxGraphConverter {
    /** Operator types of the default domain this converter handles. */
    static final Set<String> SUPPORTED = Set.of("Conv", "BatchNormalization", "Relu", "Clip", "Sigmoid", "Tanh", "HardSwish",
            "HardSigmoid", "Add", "Sub", "Mul", "Div", "Gemm", "MatMul", "GlobalAveragePool", "AveragePool", "MaxPool", "Flatten",
            "Reshape", "Concat", "Constant", "Identity", "Dropout", "Softmax", "ReduceMean", "Shape", "Gather", "Unsqueeze",
            "Squeeze", "Cast", "Transpose", "Pad");

    /** A weight of the converted graph: parameter {@code param} of the module of node {@code node}. */
    record Weight(String node, String param, int[] shape, Supplier<float[]> data) {}

    /** The converted graph: nodes in execution order, the input and output value names, the weights. */
    record Plan(String input, int[] inputShape, String output, List<GraphNode> nodes, List<Weight> weights) {}

    /** What an ONNX value is during conversion: a graph value (with its inferred shape, or null) or a constant. */
    private record Value(String graphName, long[] shape, Const constant) {
        boolean isConst() {
            return constant != null;
        }
    }

    private final Path file;
    private final GraphProto graph;
    private final int opset;
    private final Map<String, Value> values = new HashMap<>();
    private final List<GraphNode> nodes = new ArrayList<>();
    private final List<Weight> weights = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, Integer> consumers = new HashMap<>();
    private final Set<NodeProto> fused = new HashSet<>();
    private final Map<String, Integer> suffixes = new HashMap<>();
    /** For each value, the first node (in execution order) that reads it. */
    private final Map<String, NodeProto> firstConsumer = new HashMap<>();
    private final Map<Const, String> materialized = new java.util.IdentityHashMap<>();
    private final Map<String, NodeProto> producer = new HashMap<>();
    private long nextSymbol = -1;
    private final Map<String, Long> symbols = new HashMap<>();
    private final Map<Long, String> symbolNames = new HashMap<>();

    private OnnxGraphConverter(Path file, GraphProto graph, int opset) {
        this.file = file;
        this.graph = graph;
        this.opset = opset;
    }

    /** Converts {@code graph}; initializers must already have passed {@link OnnxTensors#check} (their shapes are given). */
    static Plan convert(Path file, GraphProto graph, int opset, Map<String, int[]> initializerShapes) {
        return new OnnxGraphConverter(file, graph, opset).run(initializerShapes);
    }

    private Plan run(Map<String, int[]> initializerShapes) {
        for (TensorProto t : graph.getInitializerList())
            values.put(t.getName(), new Value(null, null, Const.of(t, initializerShapes.get(t.getName()))));
        // the one graph input that is not an initializer
        List<ValueInfoProto> inputs = graph.getInputList().stream().filter(v -> !values.containsKey(v.getName())).toList();
        if (inputs.size() != 1)
            throw error("the graph must have exactly one input besides its initializers, it has "
                    + inputs.stream().map(ValueInfoProto::getName).toList());
        ValueInfoProto in = inputs.getFirst();
        if (in.getName().isEmpty()) throw error("the graph input has no name");
        if (in.getType().hasTensorType()) {
            int et = in.getType().getTensorType().getElemType();
            if (et != 0 && et != TensorProto.DataType.FLOAT_VALUE)
                throw error("graph input '" + in.getName() + "' has element type " + OnnxTensors.dtypeName(et) + ", Graft needs F32");
        }
        long[] inShape = shapeOf(in);
        values.put(in.getName(), new Value(in.getName(), inShape, null));
        names.add(in.getName());
        if (graph.getOutputCount() != 1)
            throw error("the graph must have exactly one output, it has " + graph.getOutputList().stream().map(ValueInfoProto::getName).toList());
        String out = graph.getOutput(0).getName();

        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto n = graph.getNode(i);
            if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx"))
                throw error(n, "operator domain '" + n.getDomain() + "' is not supported");
            if (!SUPPORTED.contains(n.getOpType()))
                throw error(n, "unsupported operator type '" + n.getOpType() + "'");
            for (String o : n.getOutputList()) {
                if (o.isEmpty()) continue;
                if (values.containsKey(o) || producer.putIfAbsent(o, n) != null)
                    throw error(n, "value '" + o + "' is produced twice (graph input, initializer or another node)");
            }
        }
        List<NodeProto> order = topologicalOrder(out);
        for (NodeProto n : order)
            for (String i : n.getInputList())
                if (!i.isEmpty()) {
                    consumers.merge(i, 1, Integer::sum);
                    firstConsumer.putIfAbsent(i, n);
                }
        consumers.merge(out, 1, Integer::sum);
        for (NodeProto n : order) if (!fused.contains(n)) convertNode(n);

        Value result = values.get(out);
        if (result == null) throw error("graph output '" + out + "' is never produced");
        if (result.isConst()) throw error("graph output '" + out + "' is a constant, not computed from the input");
        if (result.graphName().equals(in.getName())) throw error("graph output '" + out + "' is the input itself");
        int[] staticInput = null;
        if (inShape != null) {
            staticInput = new int[inShape.length];
            for (int i = 0; i < inShape.length; i++) staticInput[i] = inShape[i] >= 0 ? (int) inShape[i] : -1;
        }
        return new Plan(in.getName(), staticInput, result.graphName(), nodes, weights);
    }

    // ------------------------------------------------------------------ structure

    /** The nodes the output depends on, each after the producers of its inputs (iterative DFS, so no deep recursion). */
    private List<NodeProto> topologicalOrder(String output) {
        List<NodeProto> order = new ArrayList<>();
        Map<NodeProto, Integer> state = new HashMap<>(); // 1 = on the stack, 2 = done
        NodeProto last = producer.get(output);
        if (last == null) {
            if (values.containsKey(output)) return order;
            throw error("graph output '" + output + "' is not produced by any node, initializer or input");
        }
        List<NodeProto> stack = new ArrayList<>();
        List<Integer> next = new ArrayList<>();
        stack.add(last);
        next.add(0);
        state.put(last, 1);
        while (!stack.isEmpty()) {
            int top = stack.size() - 1;
            NodeProto n = stack.get(top);
            int i = next.get(top);
            if (i == n.getInputCount()) {
                stack.remove(top);
                next.remove(top);
                state.put(n, 2);
                order.add(n);
                continue;
            }
            next.set(top, i + 1);
            String in = n.getInput(i);
            if (in.isEmpty() || values.containsKey(in)) continue;
            NodeProto p = producer.get(in);
            if (p == null) throw error(n, "input '" + in + "' is not produced by any node, initializer or graph input");
            Integer s = state.get(p);
            if (s == null) {
                state.put(p, 1);
                stack.add(p);
                next.add(0);
            } else if (s == 1) {
                throw error(n, "input '" + in + "' depends on the node's own output (the graph has a cycle)");
            }
        }
        return order;
    }

    private ImportException error(String message) {
        return OnnxTensors.fail(file, message);
    }

    private ImportException error(NodeProto n, String message) {
        return OnnxTensors.fail(file, label(n) + ": " + message);
    }

    private static String label(NodeProto n) {
        String name = n.getName().isEmpty() ? (n.getOutputCount() > 0 ? "output '" + n.getOutput(0) + "'" : "(unnamed)") : "'" + n.getName() + "'";
        return "node " + name + " (" + n.getOpType() + ")";
    }

    // ------------------------------------------------------------------ shapes

    private long[] shapeOf(ValueInfoProto v) {
        if (!v.getType().hasTensorType() || !v.getType().getTensorType().hasShape()) return null;
        TensorShapeProto s = v.getType().getTensorType().getShape();
        if (s.getDimCount() > 64) throw error("value '" + v.getName() + "' has rank " + s.getDimCount());
        long[] out = new long[s.getDimCount()];
        for (int i = 0; i < out.length; i++) {
            TensorShapeProto.Dimension d = s.getDim(i);
            if (d.hasDimValue() && d.getDimValue() > 0 && d.getDimValue() <= OnnxTensors.MAX_ELEMENTS) out[i] = d.getDimValue();
            else if (d.hasDimParam() && !d.getDimParam().isEmpty()) out[i] = symbols.computeIfAbsent(d.getDimParam(), p -> {
                long id = fresh();
                symbolNames.put(id, p.length() > 40 ? p.substring(0, 40) : p);
                return id;
            });
            else out[i] = fresh();
        }
        return out;
    }

    private long fresh() {
        return nextSymbol--;
    }

    /** A shape for messages: dynamic dimensions by their ONNX name ({@code N}, {@code batch}) or {@code ?}. */
    private String shapeText(long[] s) {
        if (s == null) return "[?]";
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < s.length; i++) b.append(i == 0 ? "" : ", ").append(s[i] >= 0 ? String.valueOf(s[i]) : symbolNames.getOrDefault(s[i], "?"));
        return b.append(']').toString();
    }

    // ------------------------------------------------------------------ node helpers

    private Value input(NodeProto n, int i) {
        if (i >= n.getInputCount() || n.getInput(i).isEmpty()) throw error(n, "input " + i + " is missing");
        Value v = values.get(n.getInput(i));
        if (v == null) throw error(n, "input '" + n.getInput(i) + "' is not available");
        if (v.isConst() && !v.constant().numeric) throw error(n, "input '" + n.getInput(i) + "' is a tensor of strings or complex numbers");
        return v;
    }

    private boolean hasInput(NodeProto n, int i) {
        return i < n.getInputCount() && !n.getInput(i).isEmpty();
    }

    private Value runtime(NodeProto n, int i) {
        Value v = input(n, i);
        if (v.isConst()) throw error(n, "input '" + n.getInput(i) + "' is a constant where Graft needs a computed value");
        return v;
    }

    private Const constant(NodeProto n, int i) {
        Value v = input(n, i);
        if (!v.isConst()) throw error(n, "input '" + n.getInput(i) + "' must be a constant (initializer or Constant) for Graft to import it");
        return v.constant();
    }

    private Const concrete(NodeProto n, int i) {
        Const c = constant(n, i);
        if (c.isSymbolic()) throw error(n, "input '" + n.getInput(i) + "' depends on a dynamic dimension");
        return c;
    }

    private AttributeProto attr(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a;
        return null;
    }

    private long intAttr(NodeProto n, String name, long fallback) {
        AttributeProto a = attr(n, name);
        if (a == null) return fallback;
        if (a.getType() != AttributeProto.AttributeType.INT && a.getType() != AttributeProto.AttributeType.UNDEFINED)
            throw error(n, "attribute '" + name + "' must be an INT, it is " + a.getType());
        return a.getI();
    }

    private double floatAttr(NodeProto n, String name, double fallback) {
        AttributeProto a = attr(n, name);
        if (a == null) return fallback;
        if (a.getType() != AttributeProto.AttributeType.FLOAT && a.getType() != AttributeProto.AttributeType.UNDEFINED)
            throw error(n, "attribute '" + name + "' must be a FLOAT, it is " + a.getType());
        return a.getF();
    }

    private String stringAttr(NodeProto n, String name, String fallback) {
        AttributeProto a = attr(n, name);
        if (a == null) return fallback;
        if (a.getType() != AttributeProto.AttributeType.STRING && a.getType() != AttributeProto.AttributeType.UNDEFINED)
            throw error(n, "attribute '" + name + "' must be a STRING, it is " + a.getType());
        return a.getS().toStringUtf8();
    }

    private long[] intsAttr(NodeProto n, String name, long[] fallback) {
        AttributeProto a = attr(n, name);
        if (a == null) return fallback;
        if (a.getType() != AttributeProto.AttributeType.INTS && a.getType() != AttributeProto.AttributeType.UNDEFINED)
            throw error(n, "attribute '" + name + "' must be INTS, it is " + a.getType());
        if (a.getIntsCount() > 64) throw error(n, "attribute '" + name + "' has " + a.getIntsCount() + " values");
        long[] out = new long[a.getIntsCount()];
        for (int i = 0; i < out.length; i++) out[i] = a.getInts(i);
        return out;
    }

    /** Small non-negative (or, with {@code min} 1, positive) ints for kernel, stride, pads and dilations. */
    private int[] smallInts(NodeProto n, String name, long[] v, int length, int min) {
        if (v.length != length) throw error(n, "attribute '" + name + "' needs " + length + " values, got " + Arrays.toString(v));
        int[] out = new int[length];
        for (int i = 0; i < length; i++) {
            if (v[i] < min || v[i] > 1 << 20) throw error(n, "attribute '" + name + "' has the invalid value " + v[i] + " in " + Arrays.toString(v));
            out[i] = (int) v[i];
        }
        return out;
    }

    /** A graph-node name for an ONNX value: the ONNX node's name when it is free, else the value's name, made unique. */
    private String nameFor(NodeProto n, String value) {
        String base = !n.getName().isEmpty() && n.getOutputCount() == 1 ? n.getName() : value;
        if (base.isEmpty()) base = n.getOpType();
        if (!names.contains(base) && (base.equals(value) || !producer.containsKey(base))) {
            names.add(base);
            return base;
        }
        return freshName(base);
    }

    /**
     * {@code base}, or {@code base_1}, {@code base_2}, … : the first name no value uses. The next suffix
     * per base is remembered, so a hostile file with thousands of equal node names stays linear.
     */
    private String freshName(String base) {
        String name = base;
        int i = suffixes.getOrDefault(base, 0);
        while (names.contains(name) || producer.containsKey(name) || values.containsKey(name)) name = base + "_" + ++i;
        suffixes.put(base, i);
        names.add(name);
        return name;
    }

    /** Appends a graph node and returns its value. */
    private Value emit(String name, String op, List<String> inputs, Map<String, Object> attrs, long[] shape) {
        nodes.add(new GraphNode(name, op, inputs, attrs));
        return new Value(name, shape, null);
    }

    private void define(NodeProto n, Value v) {
        values.put(n.getOutput(0), v);
    }

    /** Makes a constant operand a {@code const} graph node (its value becomes the node's buffer). */
    private String materialize(NodeProto n, Const c, String hint) {
        if (c.isSymbolic()) throw error(n, "operand '" + hint + "' depends on a dynamic dimension and cannot be a constant tensor");
        String done = materialized.get(c);
        if (done != null) return done; // one const node per constant, however many nodes use it
        String name = freshName(hint + "/const");
        materialized.put(c, name);
        nodes.add(new GraphNode(name, "const", List.of(), Map.of("shape", c.shape.clone())));
        weights.add(new Weight(name, "value", c.shape.clone(), c::floats));
        return name;
    }

    private String operand(NodeProto n, int i) {
        Value v = input(n, i);
        return v.isConst() ? materialize(n, v.constant(), n.getInput(i)) : v.graphName();
    }

    private void checkExtraOutputs(NodeProto n, int allowed) {
        for (int i = allowed; i < n.getOutputCount(); i++)
            if (!n.getOutput(i).isEmpty() && consumers.containsKey(n.getOutput(i)))
                throw error(n, "output " + i + " ('" + n.getOutput(i) + "') is used, Graft computes only the first");
    }

    // ------------------------------------------------------------------ operators

    private void convertNode(NodeProto n) {
        if (n.getOutputCount() == 0 || n.getOutput(0).isEmpty()) throw error(n, "has no output");
        checkExtraOutputs(n, 1);
        String op = n.getOpType();
        switch (op) {
            case "Constant" -> define(n, new Value(null, null, constantNode(n)));
            case "Identity", "Dropout" -> define(n, input(n, 0));
            case "Conv" -> conv(n);
            case "BatchNormalization" -> batchNorm(n);
            case "Relu", "Sigmoid", "Tanh", "HardSwish" -> {
                Value x = runtime(n, 0);
                define(n, emit(nameFor(n, n.getOutput(0)), op.toLowerCase(java.util.Locale.ROOT), List.of(x.graphName()), Map.of(), x.shape()));
            }
            case "HardSigmoid" -> {
                double alpha = floatAttr(n, "alpha", 0.2), beta = floatAttr(n, "beta", 0.5);
                if (Math.abs(alpha - 1 / 6.0) > 1e-6 || Math.abs(beta - 0.5) > 1e-6)
                    throw error(n, "only alpha = 1/6, beta = 0.5 (PyTorch's hardsigmoid) is supported, got alpha " + alpha + ", beta " + beta);
                Value x = runtime(n, 0);
                define(n, emit(nameFor(n, n.getOutput(0)), "hardsigmoid", List.of(x.graphName()), Map.of(), x.shape()));
            }
            case "Clip" -> clip(n);
            case "Add", "Sub", "Mul", "Div" -> binary(n);
            case "Gemm" -> gemm(n);
            case "MatMul" -> matmul(n);
            case "GlobalAveragePool" -> {
                Value x = runtime(n, 0);
                requireRank(n, x, 4);
                long[] s = x.shape() == null ? null : new long[] {x.shape()[0], x.shape()[1], 1, 1};
                define(n, emit(nameFor(n, n.getOutput(0)), "globalavgpool", List.of(x.graphName()), Map.of(), s));
            }
            case "AveragePool", "MaxPool" -> pool(n);
            case "Flatten" -> flatten(n);
            case "Reshape" -> reshape(n);
            case "Concat" -> concat(n);
            case "Softmax" -> softmax(n);
            case "ReduceMean" -> reduceMean(n);
            case "Shape" -> shape(n);
            case "Gather" -> gather(n);
            case "Unsqueeze", "Squeeze" -> squeeze(n, op.equals("Unsqueeze"));
            case "Cast" -> cast(n);
            case "Transpose" -> transpose(n);
            case "Pad" -> pad(n);
            default -> throw error(n, "unsupported operator type '" + op + "'");
        }
    }

    private void requireRank(NodeProto n, Value x, int rank) {
        if (x.shape() != null && x.shape().length != rank)
            throw error(n, "input '" + n.getInput(0) + "' has shape " + shapeText(x.shape()) + ", Graft needs rank " + rank);
    }

    private Const constantNode(NodeProto n) {
        if (n.getAttributeCount() != 1) throw error(n, "needs exactly one value attribute");
        AttributeProto a = n.getAttribute(0);
        return switch (a.getName()) {
            case "value" -> {
                TensorProto t = a.getT();
                String what = label(n) + " tensor";
                yield Const.of(t, OnnxTensors.check(file, t, what));
            }
            case "value_float" -> Const.of(new int[0], false, new double[] {a.getF()});
            case "value_floats" -> {
                double[] v = new double[a.getFloatsCount()];
                for (int i = 0; i < v.length; i++) v[i] = a.getFloats(i);
                yield Const.of(new int[] {v.length}, false, v);
            }
            case "value_int" -> Const.of(new int[0], true, new double[] {a.getI()});
            case "value_ints" -> {
                double[] v = new double[a.getIntsCount()];
                for (int i = 0; i < v.length; i++) v[i] = a.getInts(i);
                yield Const.of(new int[] {v.length}, true, v);
            }
            default -> throw error(n, "value attribute '" + a.getName() + "' is not supported");
        };
    }

    private int[] padsOf(NodeProto n, int[] kernel, int[] stride, int[] dilation, long[] xs) {
        String autoPad = stringAttr(n, "auto_pad", "NOTSET");
        int[] pads = smallInts(n, "pads", intsAttr(n, "pads", new long[4]), 4, 0); // [top, left, bottom, right]
        switch (autoPad) {
            case "NOTSET" -> {}
            case "VALID" -> pads = new int[4];
            case "SAME_UPPER", "SAME_LOWER" -> {
                for (int d = 0; d < 2; d++) {
                    int eff = (kernel[d] - 1) * dilation[d] + 1;
                    long total;
                    if (stride[d] == 1) total = eff - 1;
                    else if (xs != null && xs.length == 4 && xs[2 + d] >= 0) {
                        long in = xs[2 + d], out = (in + stride[d] - 1) / stride[d];
                        total = Math.max(0, (out - 1) * stride[d] + eff - in);
                    } else throw error(n, "auto_pad " + autoPad + " with stride " + stride[d] + " needs a known input size, input shape is " + shapeText(xs));
                    int small = (int) (total / 2), big = (int) (total - small);
                    pads[d] = autoPad.equals("SAME_UPPER") ? small : big;
                    pads[d + 2] = autoPad.equals("SAME_UPPER") ? big : small;
                }
            }
            default -> throw error(n, "auto_pad '" + autoPad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        }
        return pads;
    }

    private static long[] windowShape(long[] xs, long channels, int[] kernel, int[] stride, int[] pads, int[] dilation, boolean ceil) {
        if (xs == null || xs.length != 4) return null;
        long[] out = {xs[0], channels, 0, 0};
        for (int d = 0; d < 2; d++) {
            if (xs[2 + d] < 0) {
                out[2 + d] = Long.MIN_VALUE; // replaced by a fresh symbol by the caller
                continue;
            }
            long span = xs[2 + d] + pads[d] + pads[d + 2] - (long) dilation[d] * (kernel[d] - 1) - 1;
            out[2 + d] = (ceil ? Math.ceilDiv(span, stride[d]) : Math.floorDiv(span, stride[d])) + 1;
        }
        return out;
    }

    private long[] finishShape(NodeProto n, long[] s) {
        if (s == null) return null;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == Long.MIN_VALUE) s[i] = fresh();
            else if (i >= 2 && s[i] <= 0) throw error(n, "the output would have shape " + shapeText(s) + " (the window does not fit the input)");
        }
        return s;
    }

    private void conv(NodeProto n) {
        Value x = runtime(n, 0);
        requireRank(n, x, 4);
        Const w = concrete(n, 1);
        if (w.shape.length != 4) throw error(n, "weight '" + n.getInput(1) + "' has shape " + Arrays.toString(w.shape) + ", Graft supports 2-D convolutions (rank-4 weights)");
        for (int d : w.shape) if (d == 0) throw error(n, "weight '" + n.getInput(1) + "' has an empty shape " + Arrays.toString(w.shape));
        long group = intAttr(n, "group", 1);
        if (group < 1 || group > w.shape[0] || w.shape[0] % group != 0)
            throw error(n, "group " + group + " does not divide the " + w.shape[0] + " output channels");
        long in = w.shape[1] * group;
        if (in > Integer.MAX_VALUE) throw error(n, "has too many input channels");
        if (x.shape() != null && x.shape()[1] >= 0 && x.shape()[1] != in)
            throw error(n, "input '" + n.getInput(0) + "' has shape " + shapeText(x.shape()) + ", the weight " + Arrays.toString(w.shape) + " with group " + group + " needs " + in + " channels");
        int[] kernel = {w.shape[2], w.shape[3]};
        long[] ks = intsAttr(n, "kernel_shape", null);
        if (ks != null && !Arrays.equals(smallInts(n, "kernel_shape", ks, 2, 1), kernel))
            throw error(n, "kernel_shape " + Arrays.toString(ks) + " does not match the weight shape " + Arrays.toString(w.shape));
        int[] stride = smallInts(n, "strides", intsAttr(n, "strides", new long[] {1, 1}), 2, 1);
        int[] dilation = smallInts(n, "dilations", intsAttr(n, "dilations", new long[] {1, 1}), 2, 1);
        int[] pads = padsOf(n, kernel, stride, dilation, x.shape());
        Const b = null;
        if (hasInput(n, 2)) {
            b = concrete(n, 2);
            if (b.numel() != w.shape[0]) throw error(n, "bias '" + n.getInput(2) + "' has shape " + Arrays.toString(b.shape) + ", needs " + w.shape[0] + " values");
        }
        String src = x.graphName();
        String name = nameFor(n, n.getOutput(0));
        int[] padding;
        if (pads[0] == pads[2] && pads[1] == pads[3]) {
            padding = new int[] {pads[0], pads[1]};
        } else {
            src = emit(freshName(name + "/pad"), "pad", List.of(src), Map.of("pads", new int[] {pads[0], pads[2], pads[1], pads[3]}), null).graphName();
            padding = new int[] {0, 0};
        }
        Map<String, Object> attrs = new LinkedHashMap<>();
        attrs.put("in", (int) in);
        attrs.put("out", w.shape[0]);
        attrs.put("kernel", kernel);
        attrs.put("stride", stride);
        attrs.put("padding", padding);
        attrs.put("dilation", dilation);
        attrs.put("groups", (int) group);
        attrs.put("bias", b != null);
        long[] shape = finishShape(n, windowShape(x.shape(), w.shape[0], kernel, stride, pads, dilation, false));
        define(n, emit(name, "conv2d", List.of(src), attrs, shape));
        weights.add(new Weight(name, "weight", w.shape.clone(), w::floats));
        if (b != null) weights.add(new Weight(name, "bias", new int[] {w.shape[0]}, b::floats));
    }

    private void batchNorm(NodeProto n) {
        Value x = runtime(n, 0);
        requireRank(n, x, 4);
        if (intAttr(n, "training_mode", 0) != 0) throw error(n, "training_mode = 1 is not supported (export the model in eval mode)");
        Const scale = concrete(n, 1);
        long c = scale.numel();
        if (c == 0 || scale.shape.length != 1) throw error(n, "scale '" + n.getInput(1) + "' has shape " + Arrays.toString(scale.shape) + ", needs (C)");
        Const[] p = {scale, concrete(n, 2), concrete(n, 3), concrete(n, 4)};
        String[] keys = {"weight", "bias", "running_mean", "running_var"};
        for (int i = 1; i < 4; i++)
            if (p[i].numel() != c) throw error(n, "input '" + n.getInput(i + 1) + "' has shape " + Arrays.toString(p[i].shape) + ", needs " + c + " values");
        if (x.shape() != null && x.shape()[1] >= 0 && x.shape()[1] != c)
            throw error(n, "input '" + n.getInput(0) + "' has shape " + shapeText(x.shape()) + ", the statistics have " + c + " channels");
        double eps = floatAttr(n, "epsilon", 1e-5), momentum = 1 - floatAttr(n, "momentum", 0.9);
        if (!(eps > 0)) throw error(n, "epsilon must be positive, got " + eps);
        if (!(momentum >= 0 && momentum <= 1)) momentum = 0.1;
        String name = nameFor(n, n.getOutput(0));
        define(n, emit(name, "batchnorm", List.of(x.graphName()), Map.of("channels", (int) c, "eps", eps, "momentum", momentum), x.shape()));
        for (int i = 0; i < 4; i++) weights.add(new Weight(name, keys[i], new int[] {(int) c}, p[i]::floats));
    }

    private double scalar(NodeProto n, int i, double fallback) {
        if (!hasInput(n, i)) return fallback;
        Const c = concrete(n, i);
        if (c.numel() != 1) throw error(n, "input '" + n.getInput(i) + "' must be a scalar, it has shape " + Arrays.toString(c.shape));
        return c.values()[0];
    }

    private void clip(NodeProto n) {
        Value x = runtime(n, 0);
        double lo, hi;
        if (opset < 11) {
            lo = floatAttr(n, "min", Double.NEGATIVE_INFINITY);
            hi = floatAttr(n, "max", Double.POSITIVE_INFINITY);
        } else {
            lo = scalar(n, 1, Double.NEGATIVE_INFINITY);
            hi = scalar(n, 2, Double.POSITIVE_INFINITY);
        }
        if (lo <= -Float.MAX_VALUE) lo = Double.NEGATIVE_INFINITY;
        if (hi >= Float.MAX_VALUE) hi = Double.POSITIVE_INFINITY;
        if (Double.isNaN(lo) || Double.isNaN(hi) || lo > hi) throw error(n, "invalid bounds min " + lo + ", max " + hi);
        String name = nameFor(n, n.getOutput(0));
        if (lo == 0 && hi == 6) {
            define(n, emit(name, "relu6", List.of(x.graphName()), Map.of(), x.shape()));
        } else if (lo == 0 && hi == Double.POSITIVE_INFINITY) {
            define(n, emit(name, "relu", List.of(x.graphName()), Map.of(), x.shape()));
        } else {
            Map<String, Object> attrs = new LinkedHashMap<>();
            if (lo != Double.NEGATIVE_INFINITY) attrs.put("min", lo);
            if (hi != Double.POSITIVE_INFINITY) attrs.put("max", hi);
            define(n, emit(name, "clip", List.of(x.graphName()), attrs, x.shape()));
        }
    }

    private static long[] broadcast(long[] a, long[] b) {
        if (a == null || b == null) return null;
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long x = i < r - a.length ? 1 : a[i - (r - a.length)], y = i < r - b.length ? 1 : b[i - (r - b.length)];
            out[i] = x == 1 ? y : y == 1 ? x : x == y ? x : x >= 0 && y >= 0 ? Long.MIN_VALUE : x >= 0 ? x : y;
        }
        for (long v : out) if (v == Long.MIN_VALUE) return null;
        return out;
    }

    private static long[] shapeOfConst(Const c) {
        long[] s = new long[c.shape.length];
        for (int i = 0; i < s.length; i++) s[i] = c.shape[i];
        return s;
    }

    private void binary(NodeProto n) {
        Value a = input(n, 0), b = input(n, 1);
        if (a.isConst() && b.isConst()) {
            define(n, new Value(null, null, foldBinary(n, a.constant(), b.constant())));
            return;
        }
        long[] sa = a.isConst() ? shapeOfConst(a.constant()) : a.shape(), sb = b.isConst() ? shapeOfConst(b.constant()) : b.shape();
        long[] shape = broadcast(sa, sb);
        if (sa != null && sb != null && shape == null)
            throw error(n, "cannot broadcast shapes " + shapeText(sa) + " and " + shapeText(sb));
        String ia = operand(n, 0), ib = operand(n, 1);
        define(n, emit(nameFor(n, n.getOutput(0)), n.getOpType().toLowerCase(java.util.Locale.ROOT), List.of(ia, ib), Map.of(), shape));
    }

    private Const foldBinary(NodeProto n, Const a, Const b) {
        boolean sym = a.isSymbolic() || b.isSymbolic();
        if (a.numel() > 1 << 16 || b.numel() > 1 << 16) throw error(n, "constant operands are too large to fold");
        int[] shape;
        if (Arrays.equals(a.shape, b.shape)) shape = a.shape;
        else if (b.numel() == 1 && a.shape.length >= b.shape.length) shape = a.shape;
        else if (a.numel() == 1 && b.shape.length >= a.shape.length) shape = b.shape;
        else throw error(n, "cannot fold constants of shapes " + Arrays.toString(a.shape) + " and " + Arrays.toString(b.shape));
        double[] x = a.values(), y = b.values();
        int len = (int) OnnxTensors.numel(shape);
        double[] out = new double[len];
        long[] syms = sym ? new long[len] : null;
        boolean integral = a.integral && b.integral;
        for (int i = 0; i < len; i++) {
            int ia = x.length == 1 ? 0 : i, ib = y.length == 1 ? 0 : i;
            long sa = a.syms == null ? 0 : a.syms[ia], sb = b.syms == null ? 0 : b.syms[ib];
            if (sa != 0 || sb != 0) {
                // x * 1, x + 0, x / 1 keep the symbol; anything else is unknown
                String op = n.getOpType();
                boolean keepA = sa != 0 && sb == 0 && ((op.equals("Mul") || op.equals("Div")) && y[ib] == 1 || (op.equals("Add") || op.equals("Sub")) && y[ib] == 0);
                boolean keepB = sb != 0 && sa == 0 && (op.equals("Mul") && x[ia] == 1 || op.equals("Add") && x[ia] == 0);
                syms[i] = keepA ? sa : keepB ? sb : fresh();
                continue;
            }
            double r = switch (n.getOpType()) {
                case "Add" -> x[ia] + y[ib];
                case "Sub" -> x[ia] - y[ib];
                case "Mul" -> x[ia] * y[ib];
                default -> integral ? (y[ib] == 0 ? 0 : Math.floor(x[ia] / y[ib])) : x[ia] / y[ib];
            };
            out[i] = r;
        }
        return sym ? Const.symbolic(out, syms) : Const.of(shape, integral, out);
    }

    private void gemm(NodeProto n) {
        Value a = runtime(n, 0);
        requireRank(n, a, 2);
        Const b = concrete(n, 1);
        if (intAttr(n, "transA", 0) != 0) throw error(n, "transA = 1 is not supported");
        boolean transB = intAttr(n, "transB", 0) != 0;
        double alpha = floatAttr(n, "alpha", 1), beta = floatAttr(n, "beta", 1);
        if (b.shape.length != 2 || b.shape[0] == 0 || b.shape[1] == 0) throw error(n, "B '" + n.getInput(1) + "' has shape " + Arrays.toString(b.shape) + ", needs a non-empty matrix");
        int out = transB ? b.shape[0] : b.shape[1], in = transB ? b.shape[1] : b.shape[0];
        Const c = hasInput(n, 2) ? concrete(n, 2) : null;
        if (c != null && c.numel() != out && c.numel() != 1)
            throw error(n, "C '" + n.getInput(2) + "' has shape " + Arrays.toString(c.shape) + ", Graft needs (" + out + ") or a scalar");
        if (c != null && c.shape.length == 2 && c.shape[0] != 1) throw error(n, "C '" + n.getInput(2) + "' has shape " + Arrays.toString(c.shape) + ", needs (1, " + out + ")");
        linear(n, a, b, transB, alpha, c, beta, in, out);
    }

    private void linear(NodeProto n, Value a, Const b, boolean transB, double alpha, Const c, double beta, int in, int out) {
        if (a.shape() != null && a.shape().length > 0 && a.shape()[a.shape().length - 1] >= 0 && a.shape()[a.shape().length - 1] != in)
            throw error(n, "input '" + n.getInput(0) + "' has shape " + shapeText(a.shape()) + ", the weight needs " + in + " features");
        String name = nameFor(n, n.getOutput(0));
        long[] shape = a.shape() == null ? null : a.shape().clone();
        if (shape != null) shape[shape.length - 1] = out;
        define(n, emit(name, "linear", List.of(a.graphName()), Map.of("in", in, "out", out, "bias", c != null), shape));
        weights.add(new Weight(name, "weight", new int[] {out, in}, () -> {
            float[] w = b.floats();
            float[] r = new float[w.length];
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++) r[o * in + i] = (float) (alpha * (transB ? w[o * in + i] : w[i * out + o]));
            return r;
        }));
        if (c != null) weights.add(new Weight(name, "bias", new int[] {out}, () -> {
            float[] v = c.floats();
            float[] r = new float[out];
            for (int o = 0; o < out; o++) r[o] = (float) (beta * v[v.length == 1 ? 0 : o]);
            return r;
        }));
    }

    private void matmul(NodeProto n) {
        Value a = runtime(n, 0);
        Const b = concrete(n, 1);
        if (b.shape.length != 2 || b.shape[0] == 0 || b.shape[1] == 0)
            throw error(n, "B '" + n.getInput(1) + "' has shape " + Arrays.toString(b.shape) + ", Graft supports a constant matrix");
        if (a.shape() != null && a.shape().length < 2) throw error(n, "input '" + n.getInput(0) + "' has shape " + shapeText(a.shape()) + ", needs rank 2 or more");
        int in = b.shape[0], out = b.shape[1];
        // MatMul followed by Add of a (out) vector: one Linear layer with bias
        NodeProto add = null;
        String y = n.getOutput(0);
        NodeProto m = consumers.getOrDefault(y, 0) == 1 ? firstConsumer.get(y) : null;
        if (m != null && m.getOpType().equals("Add") && m.getInputCount() == 2 && !m.getInput(0).equals(m.getInput(1)) && m.getDomain().isEmpty()) {
            String other = m.getInput(0).equals(y) ? m.getInput(1) : m.getInput(0);
            Value o = values.get(other);
            if (o != null && o.isConst() && o.constant().numeric && !o.constant().isSymbolic() && o.constant().numel() == out
                    && o.constant().shape.length <= 2 && (o.constant().shape.length == 0 || o.constant().shape[o.constant().shape.length - 1] == out))
                add = m;
        }
        if (add == null) {
            linear(n, a, b, false, 1, null, 1, in, out);
            return;
        }
        fused.add(add);
        Const bias = values.get(add.getInput(0).equals(y) ? add.getInput(1) : add.getInput(0)).constant();
        linear(add, a, b, false, 1, bias, 1, in, out);
    }

    private void pool(NodeProto n) {
        Value x = runtime(n, 0);
        requireRank(n, x, 4);
        boolean max = n.getOpType().equals("MaxPool");
        int[] kernel = smallInts(n, "kernel_shape", intsAttr(n, "kernel_shape", new long[0]), 2, 1);
        int[] stride = smallInts(n, "strides", intsAttr(n, "strides", new long[] {1, 1}), 2, 1);
        int[] dilation = smallInts(n, "dilations", intsAttr(n, "dilations", new long[] {1, 1}), 2, 1);
        if (!max && (dilation[0] != 1 || dilation[1] != 1)) throw error(n, "dilations " + Arrays.toString(dilation) + " are not supported for average pooling");
        int[] pads = padsOf(n, kernel, stride, dilation, x.shape());
        if (pads[0] != pads[2] || pads[1] != pads[3])
            throw error(n, "asymmetric pads " + Arrays.toString(pads) + " are not supported for pooling");
        boolean ceil = intAttr(n, "ceil_mode", 0) != 0;
        Map<String, Object> attrs = new LinkedHashMap<>();
        attrs.put("kernel", kernel);
        attrs.put("stride", stride);
        attrs.put("padding", new int[] {pads[0], pads[1]});
        if (max) attrs.put("dilation", dilation);
        attrs.put("ceil", ceil);
        if (!max) attrs.put("count_include_pad", intAttr(n, "count_include_pad", 0) != 0);
        long[] shape = finishShape(n, windowShape(x.shape(), x.shape() == null ? 0 : x.shape()[1], kernel, stride, pads, dilation, ceil));
        define(n, emit(nameFor(n, n.getOutput(0)), max ? "maxpool" : "avgpool", List.of(x.graphName()), attrs, shape));
    }

    private int axis(NodeProto n, long axis, int rank) {
        if (axis < -rank || axis >= rank) throw error(n, "axis " + axis + " is out of range for rank " + rank);
        return (int) (axis < 0 ? axis + rank : axis);
    }

    private void flatten(NodeProto n) {
        Value x = input(n, 0);
        long axis = intAttr(n, "axis", 1);
        if (x.isConst()) {
            Const c = x.constant();
            int rank = c.shape.length;
            int ax = axis < 0 ? (int) Math.max(-1, axis + rank) : (int) Math.min(axis, rank + 1L);
            if (ax < 0 || ax > rank) throw error(n, "axis " + axis + " is out of range for rank " + rank);
            long left = 1;
            for (int i = 0; i < ax && i < c.shape.length; i++) left *= c.shape[i];
            define(n, new Value(null, null, Const.of(new int[] {(int) left, (int) (c.numel() / Math.max(1, left))}, c.integral, c.values())));
            return;
        }
        if (axis == 1 && (x.shape() == null || x.shape().length >= 2)) {
            long[] shape = null;
            if (x.shape() != null) shape = new long[] {x.shape()[0], product(x.shape(), 1, x.shape().length)};
            define(n, emit(nameFor(n, n.getOutput(0)), "flatten", List.of(x.graphName()), Map.of("start", 1, "end", -1), shape));
            return;
        }
        if (x.shape() == null) throw error(n, "axis " + axis + " needs the input's shape, which is unknown");
        int ax = axis(n, axis, x.shape().length + 1); // Flatten's axis may equal the rank
        if (axis < 0) ax = (int) (axis + x.shape().length);
        if (ax < 0) throw error(n, "axis " + axis + " is out of range for rank " + x.shape().length);
        long[] target = {product(x.shape(), 0, ax), product(x.shape(), ax, x.shape().length)};
        reshapeTo(n, x, target);
    }

    /** The product of dims [from, to), or a fresh symbol when one of them is unknown (a single unknown dim stays itself). */
    private long product(long[] s, int from, int to) {
        long p = 1;
        int unknown = 0;
        long sym = 0;
        for (int i = from; i < to; i++) {
            if (s[i] < 0) {
                unknown++;
                sym = s[i];
            } else p *= s[i];
        }
        if (unknown == 0) return p;
        return unknown == 1 && p == 1 ? sym : fresh();
    }

    private void reshape(NodeProto n) {
        Value x = input(n, 0);
        long[] target;
        long[] targetSyms = null;
        if (opset < 5) {
            target = intsAttr(n, "shape", null);
            if (target == null) throw error(n, "has no shape attribute");
        } else {
            Const s = constant(n, 1);
            if (s.shape.length != 1 || !s.integral)
                throw error(n, "shape '" + n.getInput(1) + "' is a " + s + " tensor, needs an integer vector");
            if (s.numel() > 64) throw error(n, "shape '" + n.getInput(1) + "' has " + s.numel() + " entries");
            target = s.longs();
            targetSyms = s.syms;
        }
        boolean allowZero = intAttr(n, "allowzero", 0) != 0;
        long[] resolved = new long[target.length];
        int infer = -1;
        for (int i = 0; i < target.length; i++) {
            if (targetSyms != null && targetSyms[i] != 0) resolved[i] = targetSyms[i];
            else if (target[i] == 0 && !allowZero) {
                long[] xs = x.isConst() ? shapeOfConst(x.constant()) : x.shape();
                if (xs == null || i >= xs.length) throw error(n, "shape entry " + i + " is 0 (copy the input dimension), but the input shape is " + shapeText(xs));
                resolved[i] = xs[i];
            } else if (target[i] == -1) {
                if (infer >= 0) throw error(n, "shape " + Arrays.toString(target) + " has more than one -1");
                infer = i;
                resolved[i] = Long.MAX_VALUE;
            } else if (target[i] < 0 || target[i] > OnnxTensors.MAX_ELEMENTS) {
                throw error(n, "shape " + Arrays.toString(target) + " has the invalid entry " + target[i]);
            } else resolved[i] = target[i];
        }
        if (x.isConst()) {
            Const c = x.constant();
            if (c.isSymbolic()) throw error(n, "cannot reshape a symbolic shape vector");
            long known = 1;
            for (int i = 0; i < resolved.length; i++) if (i != infer) {
                if (resolved[i] < 0) throw error(n, "target shape depends on a dynamic dimension");
                known *= resolved[i];
                if (known > OnnxTensors.MAX_ELEMENTS) throw error(n, "target shape " + Arrays.toString(target) + " is too large");
            }
            if (infer >= 0) resolved[infer] = known == 0 ? 0 : c.numel() / known;
            int[] shape = new int[resolved.length];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = (int) resolved[i];
                numel *= resolved[i];
            }
            if (numel != c.numel()) throw error(n, "cannot reshape constant " + Arrays.toString(c.shape) + " to " + Arrays.toString(target));
            define(n, new Value(null, null, Const.of(shape, c.integral, c.values())));
            return;
        }
        reshapeTo(n, x, resolved);
    }

    /**
     * Emits a reshape of runtime value {@code x} to {@code target}: entries are concrete sizes, symbols
     * (negative) or {@code Long.MAX_VALUE} for "infer". Symbols matching the input's cancel out, so
     * {@code view(N, -1)} of an (N, C, H, W) input becomes {@code reshape [-1, C·H·W]}.
     */
    private void reshapeTo(NodeProto n, Value x, long[] target) {
        long[] xs = x.shape();
        long[] out = target.clone();
        int infer = -1;
        for (int i = 0; i < out.length; i++) if (out[i] == Long.MAX_VALUE) infer = i;
        if (infer >= 0 && xs != null) {
            List<Long> inSyms = new ArrayList<>();
            long inKnown = 1;
            for (long d : xs) if (d < 0) inSyms.add(d); else inKnown *= d;
            long outKnown = 1;
            boolean ok = true;
            for (int i = 0; i < out.length; i++) {
                if (i == infer) continue;
                if (out[i] >= 0) outKnown *= out[i];
                else if (!inSyms.remove((Long) out[i])) ok = false;
            }
            if (ok && inSyms.isEmpty()) {
                if (outKnown == 0 || inKnown % outKnown != 0)
                    throw error(n, "cannot reshape " + shapeText(xs) + " to " + shapeText(target));
                out[infer] = inKnown / outKnown;
            } else out[infer] = fresh();
        } else if (infer >= 0) out[infer] = fresh();
        if (xs != null) {
            boolean allKnown = true;
            long a = 1, b = 1;
            for (long d : xs) if (d < 0) allKnown = false; else a *= d;
            for (long d : out) if (d < 0) allKnown = false; else b *= d;
            if (allKnown && a != b) throw error(n, "cannot reshape " + shapeText(xs) + " to " + shapeText(out));
        }
        int[] attr = new int[out.length];
        int minus = 0;
        for (int i = 0; i < out.length; i++) {
            if (out[i] >= 0) attr[i] = (int) out[i];
            else {
                attr[i] = -1;
                minus++;
            }
        }
        if (minus > 1) throw error(n, "the target shape " + shapeText(out) + " has more than one dynamic dimension; Graft's reshape needs static sizes");
        define(n, emit(nameFor(n, n.getOutput(0)), "reshape", List.of(x.graphName()), Map.of("shape", attr), out));
    }

    private void concat(NodeProto n) {
        if (n.getInputCount() == 0) throw error(n, "has no inputs");
        long axis = intAttr(n, "axis", Long.MIN_VALUE);
        if (axis == Long.MIN_VALUE) throw error(n, "lacks the axis attribute");
        boolean allConst = true;
        for (int i = 0; i < n.getInputCount(); i++) allConst &= input(n, i).isConst();
        if (allConst) {
            List<Const> parts = new ArrayList<>();
            for (int i = 0; i < n.getInputCount(); i++) parts.add(input(n, i).constant());
            int rank = parts.getFirst().shape.length;
            if (rank != 1) throw error(n, "folding Graft supports only 1-D constants, got shape " + Arrays.toString(parts.getFirst().shape));
            axis(n, axis, 1);
            int len = 0;
            for (Const c : parts) {
                if (c.shape.length != 1) throw error(n, "cannot concatenate constants of shapes " + Arrays.toString(parts.getFirst().shape) + " and " + Arrays.toString(c.shape));
                len += c.shape[0];
                if (len > 1 << 20) throw error(n, "folded constant too large");
            }
            double[] v = new double[len];
            long[] syms = new long[len];
            int at = 0;
            boolean integral = true;
            for (Const c : parts) {
                System.arraycopy(c.values(), 0, v, at, c.shape[0]);
                if (c.syms != null) System.arraycopy(c.syms, 0, syms, at, c.shape[0]);
                at += c.shape[0];
                integral &= c.integral;
            }
            define(n, new Value(null, null, integral ? Const.symbolic(v, syms) : Const.of(new int[] {len}, false, v)));
            return;
        }
        List<String> inputs = new ArrayList<>();
        long[] shape = null;
        int rank = -1;
        for (int i = 0; i < n.getInputCount(); i++) {
            Value v = input(n, i);
            long[] s = v.isConst() ? shapeOfConst(v.constant()) : v.shape();
            if (s != null) rank = s.length;
            inputs.add(operand(n, i));
        }
        int ax = (int) axis;
        if (rank >= 0) {
            ax = axis(n, axis, rank);
            shape = null;
            long sum = 0;
            boolean known = true;
            for (int i = 0; i < n.getInputCount(); i++) {
                Value v = input(n, i);
                long[] s = v.isConst() ? shapeOfConst(v.constant()) : v.shape();
                if (s == null) {
                    known = false;
                    break;
                }
                if (s.length != rank) throw error(n, "inputs have different ranks");
                if (shape == null) shape = s.clone();
                if (s[ax] < 0) known = false; else sum += s[ax];
            }
            if (shape != null) shape[ax] = known ? sum : fresh();
        }
        define(n, emit(nameFor(n, n.getOutput(0)), "concat", inputs, Map.of("axis", ax), shape));
    }

    private void softmax(NodeProto n) {
        Value x = runtime(n, 0);
        long axis = intAttr(n, "axis", opset < 13 ? 1 : -1);
        int ax = (int) axis;
        if (x.shape() != null) {
            int rank = x.shape().length;
            ax = axis(n, axis, rank);
            if (opset < 13 && ax != rank - 1)
                throw error(n, "axis " + axis + " on a rank-" + rank + " input flattens dimensions before opset 13; only the last axis is supported");
        } else if (opset < 13 && axis != -1) {
            throw error(n, "axis " + axis + " before opset 13 needs the input's rank, which is unknown");
        }
        define(n, emit(nameFor(n, n.getOutput(0)), "softmax", List.of(x.graphName()), Map.of("axis", ax), x.shape()));
    }

    private void reduceMean(NodeProto n) {
        Value x = runtime(n, 0);
        long[] axes = opset < 18 ? intsAttr(n, "axes", null) : hasInput(n, 1) ? concrete(n, 1).longs() : null;
        if (axes == null || axes.length == 0) throw error(n, "reducing over all axes is not supported");
        boolean keep = intAttr(n, "keepdims", 1) != 0;
        int rank = x.shape() == null ? -1 : x.shape().length;
        int[] ax = new int[axes.length];
        for (int i = 0; i < ax.length; i++) ax[i] = rank >= 0 ? axis(n, axes[i], rank) : (int) axes[i];
        long[] shape = null;
        if (rank >= 0) {
            int[] sorted = ax.clone();
            Arrays.sort(sorted);
            List<Long> s = new ArrayList<>();
            for (int i = 0; i < rank; i++) {
                if (Arrays.binarySearch(sorted, i) >= 0) {
                    if (keep) s.add(1L);
                } else s.add(x.shape()[i]);
            }
            shape = s.stream().mapToLong(Long::longValue).toArray();
            // mean over H and W without keepdims: a global pooling then a flatten, as GraphClassifier expects
            if (rank == 4 && sorted.length == 2 && sorted[0] == 2 && sorted[1] == 3 && !keep) {
                String name = nameFor(n, n.getOutput(0));
                String pool = freshName(name + "/pool");
                emit(pool, "globalavgpool", List.of(x.graphName()), Map.of(), null);
                define(n, emit(name, "flatten", List.of(pool), Map.of("start", 1, "end", -1), shape));
                return;
            }
        }
        define(n, emit(nameFor(n, n.getOutput(0)), "mean", List.of(x.graphName()), Map.of("axes", ax, "keepdims", keep), shape));
    }

    private void shape(NodeProto n) {
        Value x = input(n, 0);
        long[] s = x.isConst() ? shapeOfConst(x.constant()) : x.shape();
        if (s == null) throw error(n, "the shape of '" + n.getInput(0) + "' is unknown at import time");
        int rank = s.length;
        long start = intAttr(n, "start", 0), end = intAttr(n, "end", rank);
        int from = Math.clamp(start < 0 ? start + rank : start, 0, rank), to = Math.clamp(end < 0 ? end + rank : end, 0, rank);
        int len = Math.max(0, to - from);
        double[] v = new double[len];
        long[] syms = new long[len];
        for (int i = 0; i < len; i++) {
            long d = s[from + i];
            if (d >= 0) v[i] = d; else syms[i] = d;
        }
        define(n, new Value(null, null, Const.symbolic(v, syms)));
    }

    private void gather(NodeProto n) {
        Const data = constant(n, 0), idx = concrete(n, 1);
        if (idx.numel() > 1 << 16) throw error(n, "too many indices to fold");
        int rank = data.shape.length;
        if (rank == 0) throw error(n, "cannot gather from a scalar");
        int ax = axis(n, intAttr(n, "axis", 0), rank);
        long[] index = idx.longs();
        int dim = data.shape[ax];
        int outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= data.shape[i];
        for (int i = ax + 1; i < rank; i++) inner *= data.shape[i];
        long total = (long) outer * index.length * inner;
        if (total > 1 << 20) throw error(n, "folded gather result too large");
        double[] src = data.values();
        double[] out = new double[(int) total];
        long[] syms = data.syms == null ? null : new long[out.length];
        int at = 0;
        for (int o = 0; o < outer; o++) {
            for (long k : index) {
                long j = k < 0 ? k + dim : k;
                if (j < 0 || j >= dim) throw error(n, "index " + k + " is out of range for dimension " + dim);
                for (int i = 0; i < inner; i++) {
                    int from = (int) ((o * (long) dim + j) * inner + i);
                    out[at] = src[from];
                    if (syms != null) syms[at] = data.syms[from];
                    at++;
                }
            }
        }
        int[] shape = new int[rank - 1 + idx.shape.length];
        int p = 0;
        for (int i = 0; i < ax; i++) shape[p++] = data.shape[i];
        for (int d : idx.shape) shape[p++] = d;
        for (int i = ax + 1; i < rank; i++) shape[p++] = data.shape[i];
        define(n, new Value(null, null, withShape(shape, data.integral, out, syms)));
    }

    /** A constant of any shape; symbolic entries are kept. */
    private static Const withShape(int[] shape, boolean integral, double[] values, long[] syms) {
        if (syms == null) return Const.of(shape, integral, values);
        return Const.reshaped(Const.symbolic(values, syms), shape);
    }

    private void squeeze(NodeProto n, boolean unsqueeze) {
        Value x = input(n, 0);
        long[] axes = opset < 13 ? intsAttr(n, "axes", null) : hasInput(n, 1) ? concrete(n, 1).longs() : null;
        long[] xs = x.isConst() ? shapeOfConst(x.constant()) : x.shape();
        if (xs == null) throw error(n, "the shape of '" + n.getInput(0) + "' is unknown at import time");
        List<Long> out = new ArrayList<>();
        if (unsqueeze) {
            if (axes == null) throw error(n, "has no axes");
            int rank = xs.length + axes.length;
            boolean[] inserted = new boolean[rank];
            for (long a : axes) {
                int ax = axis(n, a, rank);
                if (inserted[ax]) throw error(n, "axis " + a + " is repeated");
                inserted[ax] = true;
            }
            int j = 0;
            for (int i = 0; i < rank; i++) out.add(inserted[i] ? 1L : xs[j++]);
        } else {
            boolean[] removed = new boolean[xs.length];
            if (axes == null) {
                for (int i = 0; i < xs.length; i++) removed[i] = xs[i] == 1;
            } else for (long a : axes) {
                int ax = axis(n, a, xs.length);
                if (xs[ax] != 1) throw error(n, "cannot squeeze axis " + a + " of shape " + shapeText(xs));
                removed[ax] = true;
            }
            for (int i = 0; i < xs.length; i++) if (!removed[i]) out.add(xs[i]);
        }
        long[] target = out.stream().mapToLong(Long::longValue).toArray();
        if (x.isConst()) {
            Const c = x.constant();
            int[] shape = new int[target.length];
            for (int i = 0; i < shape.length; i++) shape[i] = (int) target[i];
            define(n, new Value(null, null, c.isSymbolic() ? Const.reshaped(c, shape) : Const.of(shape, c.integral, c.values())));
            return;
        }
        reshapeTo(n, x, target);
    }

    private void cast(NodeProto n) {
        Value x = input(n, 0);
        long to = intAttr(n, "to", -1);
        if (x.isConst()) {
            Const c = x.constant();
            boolean integral = OnnxTensors.isIntegral((int) to);
            if (c.isSymbolic()) {
                if (!integral) throw error(n, "cannot cast a symbolic shape to floating point");
                define(n, x);
                return;
            }
            double[] v = c.values().clone();
            if (integral) for (int i = 0; i < v.length; i++) v[i] = v[i] < 0 ? Math.ceil(v[i]) : Math.floor(v[i]);
            else if (to == TensorProto.DataType.FLOAT_VALUE || to == TensorProto.DataType.FLOAT16_VALUE) for (int i = 0; i < v.length; i++) v[i] = (float) v[i];
            define(n, new Value(null, null, Const.of(c.shape, integral, v)));
            return;
        }
        if (to != TensorProto.DataType.FLOAT_VALUE) throw error(n, "casting a computed value to " + OnnxTensors.dtypeName((int) to) + " is not supported");
        define(n, x);
    }

    private void transpose(NodeProto n) {
        Value x = runtime(n, 0);
        if (x.shape() == null) throw error(n, "the rank of '" + n.getInput(0) + "' is unknown at import time");
        int rank = x.shape().length;
        long[] perm = intsAttr(n, "perm", null);
        int[] order = new int[rank];
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            long p = perm == null ? rank - 1 - i : i < perm.length ? perm[i] : -1;
            if (perm != null && perm.length != rank || p < 0 || p >= rank || seen[(int) p])
                throw error(n, "perm " + Arrays.toString(perm) + " is not a permutation of " + rank + " axes");
            seen[(int) p] = true;
            order[i] = (int) p;
        }
        long[] shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = x.shape()[order[i]];
        define(n, emit(nameFor(n, n.getOutput(0)), "permute", List.of(x.graphName()), Map.of("order", order), shape));
    }

    private void pad(NodeProto n) {
        Value x = runtime(n, 0);
        requireRank(n, x, 4);
        String mode = stringAttr(n, "mode", "constant");
        if (!mode.equals("constant")) throw error(n, "mode '" + mode + "' is not supported (only constant zero padding)");
        long[] pads = opset < 11 ? intsAttr(n, "pads", null) : concrete(n, 1).longs();
        double value = opset < 11 ? floatAttr(n, "value", 0) : scalar(n, 2, 0);
        if (value != 0) throw error(n, "padding value " + value + " is not supported (only zeros)");
        if (opset >= 18 && hasInput(n, 3)) throw error(n, "the axes input is not supported");
        if (pads == null || pads.length != 8) throw error(n, "pads " + Arrays.toString(pads) + " need 8 values for a rank-4 input");
        if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0)
            throw error(n, "pads " + Arrays.toString(pads) + " pad the batch or channel axis; Graft pads only H and W");
        int[] p = smallInts(n, "pads", new long[] {pads[2], pads[6], pads[3], pads[7]}, 4, 0);
        long[] shape = x.shape() == null ? null : x.shape().clone();
        if (shape != null) for (int d = 0; d < 2; d++) if (shape[2 + d] >= 0) shape[2 + d] += p[2 * d] + p[2 * d + 1];
        define(n, emit(nameFor(n, n.getOutput(0)), "pad", List.of(x.graphName()), Map.of("pads", p), shape));
    }
}
