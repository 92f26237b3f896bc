package dev.graft.zoo.tflite;

import static dev.graft.zoo.tflite.TfliteSchema.*;

import dev.graft.graph.GraphModule;
import dev.graft.graph.GraphNode;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Converts the first subgraph of a {@link TfliteModel} to a float32 NCHW {@link GraphModule}. Every
 * TFLite tensor becomes a graph value; rank-4 values are NCHW (TFLite's NHWC permuted), other ranks
 * keep TFLite's layout. Shapes are inferred op by op and checked against the shapes the file declares.
 */
final class TfliteGraph {
    record Result(GraphModule graph) {}

    /** A graph value standing for a TFLite tensor: its graph name and its TFLite (NHWC) shape. */
    private record Val(String name, int[] shape) {}

    private final TfliteModel model;
    private final List<TfliteTensor> tensors;
    private final Map<Integer, Val> vals = new HashMap<>();
    /** Tensors that are a DEQUANTIZE/QUANTIZE of constant data: index → the constant tensor. */
    private final Map<Integer, Integer> constAlias = new HashMap<>();
    private final List<GraphNode> nodes = new ArrayList<>();
    private final Map<String, Map<String, Tensor>> params = new HashMap<>();
    private final Set<String> names = new HashSet<>();
    private TfliteModel.Op op;

    TfliteGraph(TfliteModel model) {
        this.model = model;
        this.tensors = model.tfliteTensors();
    }

    Result build() {
        int[] ins = model.inputIndices(), outs = model.outputIndices();
        if (ins.length != 1) throw new ImportException(model.path(), "the model has " + ins.length + " inputs; a Graft graph takes one");
        if (outs.length < 1) throw new ImportException(model.path(), "the model has no output");
        TfliteTensor in = tensors.get(ins[0]);
        String inputName = fresh(clean(in));
        vals.put(ins[0], new Val(inputName, in.shape()));
        for (TfliteModel.Op o : model.ops()) {
            op = o;
            convert();
        }
        op = null;
        Val out = vals.get(outs[0]);
        if (out == null)
            throw new ImportException(model.path(), "the model output " + tensors.get(outs[0]) + " is produced by no operator");
        GraphModule graph = new GraphModule(inputName, out.name(), nodes);
        Map<String, Tensor> state = new LinkedHashMap<>();
        params.forEach((node, p) -> p.forEach((k, v) -> state.put(graph.moduleName(node) + "." + k, v)));
        graph.loadStateDict(state, true);
        graph.eval();
        return new Result(graph);
    }

    // ------------------------------------------------------------------ helpers

    private ImportException fail(String message) {
        String where = op == null ? "" : "operator " + op.index() + " (" + op.name() + (op.outputs().length > 0
                ? " -> '" + tensors.get(op.outputs()[0]).name() + "'" : "") + "): ";
        return new ImportException(model.path(), where + message);
    }

    private static String clean(TfliteTensor t) {
        String n = t.name();
        int semi = n.indexOf(';');
        if (semi > 0) n = n.substring(0, semi);
        n = n.strip();
        return n.isEmpty() ? "tensor_" + t.index() : n;
    }

    private String fresh(String base) {
        String name = base;
        for (int i = 1; !names.add(name); i++) name = base + "_" + i;
        return name;
    }

    private TfliteTensor input(int k) {
        if (k >= op.inputs().length || op.inputs()[k] < 0) throw fail("needs input " + k + ", the operator has none");
        return tensors.get(op.inputs()[k]);
    }

    private boolean hasInput(int k) {
        return k < op.inputs().length && op.inputs()[k] >= 0;
    }

    private TfliteTensor output() {
        if (op.outputs().length < 1) throw fail("has no output");
        return tensors.get(op.outputs()[0]);
    }

    private void need(int inputs) {
        int n = 0;
        for (int i : op.inputs()) if (i >= 0) n++;
        if (n < inputs) throw fail("needs " + inputs + " inputs, got " + n);
    }

    /** The value of input {@code k}: an earlier op's output, the graph input, or constant data as a const node. */
    private Val val(int k) {
        TfliteTensor t = input(k);
        Val v = vals.get(t.index());
        if (v != null) return v;
        TfliteTensor c = constTensor(t);
        if (c == null) throw fail("uses " + t + ", which no earlier operator produces and which holds no data");
        float[] data = floats(c, t.index());
        int[] shape = t.shape();
        int[] graftShape = shape;
        if (shape.length == 4) {
            data = nhwcToNchw(data, shape);
            graftShape = new int[] {shape[0], shape[3], shape[1], shape[2]};
        }
        return constNode(t.index(), clean(t), data, graftShape, shape);
    }

    private Val constNode(int tensor, String base, float[] data, int[] graftShape, int[] tfShape) {
        String name = fresh(base);
        nodes.add(new GraphNode(name, "const", List.of(), Map.of("shape", graftShape)));
        params.put(name, Map.of("value", Tensor.of(data, graftShape)));
        Val v = new Val(name, tfShape);
        if (tensor >= 0) vals.put(tensor, v);
        return v;
    }

    /** The tensor holding {@code t}'s constant data (itself or, through DEQUANTIZE, its source), or null. */
    private TfliteTensor constTensor(TfliteTensor t) {
        if (t.hasData()) return t;
        Integer src = constAlias.get(t.index());
        return src == null ? null : tensors.get(src);
    }

    private TfliteTensor weight(int k, String role) {
        TfliteTensor t = input(k);
        TfliteTensor c = constTensor(t);
        if (c == null) throw fail(role + " " + t + " holds no constant data");
        return c;
    }

    private void emit(String name, String opName, List<String> inputs, Map<String, Object> attrs) {
        nodes.add(new GraphNode(name, opName, inputs, attrs));
    }

    /** Records the op's output value, after an explicit or inferred activation. */
    private void finish(String name, int[] shape, int fusedActivation) {
        TfliteTensor out = output();
        int[] declared = out.shape();
        if (declared.length > 0 && !Arrays.equals(declared, shape))
            throw fail("computes shape " + Arrays.toString(shape) + " but the file declares " + out);
        String act = activation(fusedActivation, out);
        if (act != null) {
            String actName = fresh(clean(out) + "/" + act);
            Map<String, Object> attrs = act.equals("clip") ? Map.of("min", -1.0, "max", 1.0) : Map.of();
            emit(actName, act, List.of(name), attrs);
            name = actName;
        }
        vals.put(out.index(), new Val(name, shape));
    }

    /** Pseudo activation code: the op has no fused activation and none is inferred. */
    private static final int NO_ACTIVATION = -1;

    private String activation(int code, TfliteTensor out) {
        return switch (code) {
            case NO_ACTIVATION -> null;
            case ACT_NONE -> inferredActivation(out);
            case ACT_RELU -> "relu";
            case ACT_RELU6 -> "relu6";
            case ACT_RELU_N1_TO_1 -> "clip";
            case ACT_TANH -> "tanh";
            default -> throw fail("fused activation function " + code + " is not supported");
        };
    }

    /**
     * Old quantized (TOCO) models fold ReLU/ReLU6 into the output's quantization range instead of
     * setting a fused activation: a zero point at the integer minimum means a lower bound of 0 (ReLU),
     * and a range of [0, 6] means ReLU6.
     */
    private static String inferredActivation(TfliteTensor out) {
        TfliteTensor.Quantization q = out.quantization();
        if (q == null || !q.perTensor()) return null;
        long qmin, qmax;
        switch (out.dtype()) {
            case "U8" -> { qmin = 0; qmax = 255; }
            case "I8" -> { qmin = -128; qmax = 127; }
            default -> { return null; }
        }
        double scale = q.scale()[0];
        if (!(scale > 0) || !Double.isFinite(scale) || q.zeroPoint()[0] != qmin) return null;
        double max = scale * (qmax - qmin);
        return Math.abs(max - 6.0) <= 0.06 ? "relu6" : "relu";
    }

    private FlatBuffer.Table options() {
        return op.options();
    }

    private int optInt(int id, int fallback) {
        FlatBuffer.Table t = options();
        return t == null ? fallback : t.getInt(id, fallback);
    }

    private int optByte(int id, int fallback) {
        FlatBuffer.Table t = options();
        return t == null ? fallback : t.getByte(id, fallback);
    }

    private boolean optBool(int id, boolean fallback) {
        FlatBuffer.Table t = options();
        return t == null ? fallback : t.getBool(id, fallback);
    }

    private float optFloat(int id, float fallback) {
        FlatBuffer.Table t = options();
        return t == null ? fallback : t.getFloat(id, fallback);
    }

    private Val rank4(int k) {
        Val v = val(k);
        if (v.shape().length != 4) throw fail("input " + tensors.get(op.inputs()[k]) + " is not a rank-4 NHWC tensor");
        return v;
    }

    // ------------------------------------------------------------------ data

    /** Dequantized float32 values of a constant tensor, in its TFLite layout. */
    private float[] floats(TfliteTensor t, int usedAs) {
        if (model.isSparse(t.index())) throw fail(t + " is sparse; sparse tensors are not supported");
        if (!Set.of("F32", "F16", "U8", "I8", "I16", "I32", "I64").contains(t.dtype()))
            throw fail(t + " has type " + t.dtype() + ", which cannot be used as float weights");
        ByteBuffer b = model.data(t);
        int n = (int) t.numel();
        float[] out = new float[n];
        switch (t.dtype()) {
            case "F32" -> b.asFloatBuffer().get(out);
            case "F16" -> {
                for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(b.getShort(2 * i));
            }
            case "U8", "I8", "I16", "I32", "I64" -> {
                TfliteTensor.Quantization q = t.quantization();
                if (q == null || q.scale().length == 0) throw fail(t + " is an integer tensor without quantization scales");
                float[] scale = q.scale();
                long[] zp = q.zeroPoint();
                for (float s : scale) if (!Float.isFinite(s)) throw fail(t + " has a non-finite quantization scale " + s);
                int[] shape = t.shape();
                int inner = 1, channels = scale.length;
                if (channels > 1) for (int d = q.dimension() + 1; d < shape.length; d++) inner *= shape[d];
                for (int i = 0; i < n; i++) {
                    long raw = switch (t.dtype()) {
                        case "U8" -> b.get(i) & 0xFF;
                        case "I8" -> b.get(i);
                        case "I16" -> b.getShort(2 * i);
                        case "I32" -> b.getInt(4 * i);
                        default -> b.getLong(8 * i);
                    };
                    int c = channels == 1 ? 0 : (i / inner) % channels;
                    out[i] = (float) ((double) scale[c] * (raw - zp[c]));
                }
            }
            default -> throw fail(t + " has type " + t.dtype() + ", which cannot be used as float weights");
        }
        return out;
    }

    /** Integer values of a constant INT32/INT64 tensor (shape operands, axes, paddings). */
    private int[] ints(int k, String role) {
        TfliteTensor t = weight(k, role);
        if (!t.dtype().equals("I32") && !t.dtype().equals("I64")) throw fail(role + " " + t + " must be I32 or I64");
        ByteBuffer b = model.data(t);
        int n = (int) t.numel();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long v = switch (t.dtype()) {
                case "I32" -> b.getInt(4 * i);
                case "I64" -> b.getLong(8 * i);
                default -> throw fail(role + " " + t + " must be I32 or I64");
            };
            if (v != (int) v) throw fail(role + " " + t + " holds " + v + ", out of the int range");
            out[i] = (int) v;
        }
        return out;
    }

    private static float[] nhwcToNchw(float[] src, int[] s) {
        int n = s[0], h = s[1], w = s[2], c = s[3];
        float[] dst = new float[src.length];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int ch = 0; ch < c; ch++) dst[((b * c + ch) * h + y) * w + x] = src[((b * h + y) * w + x) * c + ch];
        return dst;
    }

    // ------------------------------------------------------------------ conversion

    private void convert() {
        switch (op.code()) {
            case CONV_2D -> conv(false);
            case DEPTHWISE_CONV_2D -> conv(true);
            case FULLY_CONNECTED -> fullyConnected();
            case ADD -> binary("add");
            case SUB -> binary("sub");
            case MUL -> binary("mul");
            case DIV -> binary("div");
            case AVERAGE_POOL_2D -> pool(true);
            case MAX_POOL_2D -> pool(false);
            case MEAN -> mean();
            case RESHAPE, SQUEEZE -> reshape();
            case SOFTMAX -> softmax();
            case CONCATENATION -> concat();
            case PAD -> pad();
            case QUANTIZE, DEQUANTIZE -> alias();
            case RELU -> unary("relu", Map.of());
            case RELU6 -> unary("relu6", Map.of());
            case RELU_N1_TO_1 -> unary("clip", Map.of("min", -1.0, "max", 1.0));
            case LOGISTIC -> unary("sigmoid", Map.of());
            case TANH -> unary("tanh", Map.of());
            case HARD_SWISH -> unary("hardswish", Map.of());
            default -> throw fail("operator " + op.name() + " is not supported by the TFLite importer");
        }
    }

    /** SAME/VALID output size and TF's padding (extra on the bottom/right): {out, before, after}. */
    private int[] window(int in, int k, int stride, int dilation, int padding, String axis) {
        if (stride < 1 || dilation < 1 || k < 1)
            throw fail("invalid " + axis + " window: kernel " + k + ", stride " + stride + ", dilation " + dilation);
        long eff = (long) (k - 1) * dilation + 1;
        if (padding == PADDING_VALID) {
            if (in < eff) throw fail(axis + " input " + in + " is smaller than the " + eff + "-wide window (VALID padding)");
            return new int[] {(int) ((in - eff) / stride + 1), 0, 0};
        }
        if (padding != PADDING_SAME) throw fail("unknown padding type " + padding);
        int out = (int) ((in + (long) stride - 1) / stride);
        long total = Math.max((long) (out - 1) * stride + eff - in, 0);
        return new int[] {out, (int) (total / 2), (int) (total - total / 2)};
    }

    private void conv(boolean depthwise) {
        need(2);
        Val x = rank4(0);
        TfliteTensor w = weight(1, "filter");
        int[] ws = w.shape();
        if (ws.length != 4) throw fail("filter " + w + " is not rank 4");
        int[] xs = x.shape();
        int cin = xs[3];
        int out, kh = ws[1], kw = ws[2], groups;
        float[] wd = floats(w, w.index());
        float[] oihw;
        if (depthwise) {
            // [1, KH, KW, C*M] -> [C*M, 1, KH, KW], groups C
            out = ws[3];
            if (ws[0] != 1 || cin == 0 || out % cin != 0)
                throw fail("depthwise filter " + w + " does not fit an input of " + cin + " channels");
            groups = cin;
            oihw = new float[wd.length];
            for (int o = 0; o < out; o++)
                for (int y = 0; y < kh; y++)
                    for (int z = 0; z < kw; z++) oihw[(o * kh + y) * kw + z] = wd[(y * kw + z) * out + o];
        } else {
            // [O, KH, KW, I] -> [O, I, KH, KW]
            out = ws[0];
            int ci = ws[3];
            if (ci == 0 || cin % ci != 0) throw fail("filter " + w + " does not fit an input of " + cin + " channels");
            groups = cin / ci;
            if (out % groups != 0) throw fail("filter " + w + ": " + out + " outputs do not split into " + groups + " groups");
            oihw = new float[wd.length];
            for (int o = 0; o < out; o++)
                for (int y = 0; y < kh; y++)
                    for (int z = 0; z < kw; z++)
                        for (int i = 0; i < ci; i++) oihw[((o * ci + i) * kh + y) * kw + z] = wd[((o * kh + y) * kw + z) * ci + i];
        }
        if (out == 0) throw fail("filter " + w + " has no output channels");
        float[] bias = null;
        if (hasInput(2)) {
            TfliteTensor b = weight(2, "bias");
            if (b.numel() != out) throw fail("bias " + b + " does not have " + out + " values");
            bias = floats(b, b.index());
        }
        int padding = optByte(0, PADDING_SAME), sw = optInt(1, 0), sh = optInt(2, 0);
        int act = optByte(depthwise ? 4 : 3, ACT_NONE);
        int dw = optInt(depthwise ? 5 : 4, 1), dh = optInt(depthwise ? 6 : 5, 1);
        int[] wy = window(xs[1], kh, sh, dh, padding, "height"), wx = window(xs[2], kw, sw, dw, padding, "width");
        String base = clean(output());
        String input = x.name();
        int[] pad = {wy[1], wx[1]};
        if (wy[1] != wy[2] || wx[1] != wx[2]) {
            String padName = fresh(base + "/pad");
            emit(padName, "pad", List.of(input), Map.of("pads", new int[] {wy[1], wy[2], wx[1], wx[2]}));
            input = padName;
            pad = new int[] {0, 0};
        }
        String name = fresh(base);
        Map<String, Object> attrs = new LinkedHashMap<>();
        attrs.put("in", cin);
        attrs.put("out", out);
        attrs.put("kernel", new int[] {kh, kw});
        attrs.put("stride", new int[] {sh, sw});
        attrs.put("padding", pad);
        attrs.put("dilation", new int[] {dh, dw});
        attrs.put("groups", groups);
        attrs.put("bias", bias != null);
        emit(name, "conv2d", List.of(input), attrs);
        Map<String, Tensor> p = new LinkedHashMap<>();
        p.put("weight", Tensor.of(oihw, out, cin / groups, kh, kw));
        if (bias != null) p.put("bias", Tensor.of(bias, out));
        params.put(name, p);
        finish(name, new int[] {xs[0], wy[0], wx[0], out}, act);
    }

    private void fullyConnected() {
        need(2);
        Val x = val(0);
        TfliteTensor w = weight(1, "weights");
        int[] ws = w.shape();
        if (ws.length != 2 || ws[1] == 0) throw fail("weights " + w + " are not [out, in]");
        int out = ws[0], in = ws[1];
        if (optByte(1, 0) != 0) throw fail("shuffled FULLY_CONNECTED weights are not supported");
        if (optBool(2, false) && x.shape().length != 2) throw fail("keep_num_dims on a rank-" + x.shape().length + " input is not supported");
        long numel = 1;
        for (int d : x.shape()) numel *= d;
        if (numel % in != 0) throw fail("input of shape " + Arrays.toString(x.shape()) + " does not split into rows of " + in);
        int rows = (int) (numel / in);
        String input = x.name();
        int[] xs = x.shape();
        String base = clean(output());
        if (!(xs.length == 2 && xs[1] == in)) {
            input = toTfLayout(x, base);
            String r = fresh(base + "/reshape");
            emit(r, "reshape", List.of(input), Map.of("shape", new int[] {-1, in}));
            input = r;
        }
        float[] bias = null;
        if (hasInput(2)) {
            TfliteTensor b = weight(2, "bias");
            if (b.numel() != out) throw fail("bias " + b + " does not have " + out + " values");
            bias = floats(b, b.index());
        }
        String name = fresh(base);
        emit(name, "linear", List.of(input), Map.of("in", in, "out", out, "bias", bias != null));
        Map<String, Tensor> p = new LinkedHashMap<>();
        p.put("weight", Tensor.of(floats(w, w.index()), out, in));
        if (bias != null) p.put("bias", Tensor.of(bias, out));
        params.put(name, p);
        finish(name, new int[] {rows, out}, optByte(0, ACT_NONE));
    }

    /** The value's name in TFLite element order: rank-4 NCHW values are permuted back to NHWC unless the order is the same. */
    private String toTfLayout(Val v, String base) {
        int[] s = v.shape();
        if (s.length != 4 || s[3] == 1 || (long) s[1] * s[2] == 1) return v.name();
        String p = fresh(base + "/nhwc");
        emit(p, "permute", List.of(v.name()), Map.of("order", new int[] {0, 2, 3, 1}));
        return p;
    }

    private void binary(String kind) {
        need(2);
        TfliteTensor a = input(0), b = input(1);
        int[] sa = a.shape(), sb = b.shape();
        int rank = Math.max(sa.length, sb.length);
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i - (rank - sa.length) >= 0 ? sa[i - (rank - sa.length)] : 1;
            int db = i - (rank - sb.length) >= 0 ? sb[i - (rank - sb.length)] : 1;
            if (da != db && da != 1 && db != 1) throw fail("cannot broadcast " + a + " with " + b);
            out[i] = da == 1 ? db : da;
        }
        String[] operands = new String[2];
        for (int k = 0; k < 2; k++) {
            TfliteTensor t = k == 0 ? a : b;
            if (vals.containsKey(t.index()) || constTensor(t) == null || rank != 4 || t.shape().length == 4) {
                Val v = val(k);
                if (rank == 4 && v.shape().length != 4) throw fail("cannot broadcast the rank-" + v.shape().length + " value " + t + " against NCHW values");
                operands[k] = v.name();
            } else {
                // a lower-rank constant against a rank-4 value: align it to NHWC, then lay it out as NCHW
                int[] s = t.shape(), s4 = new int[4];
                Arrays.fill(s4, 1);
                System.arraycopy(s, 0, s4, 4 - s.length, s.length);
                float[] data = nhwcToNchw(floats(constTensor(t), t.index()), s4);
                operands[k] = constNode(-1, clean(t), data, new int[] {s4[0], s4[3], s4[1], s4[2]}, s4).name();
            }
        }
        String name = fresh(clean(output()));
        emit(name, kind, List.of(operands[0], operands[1]), Map.of());
        finish(name, out, optByte(0, ACT_NONE));
    }

    private void pool(boolean average) {
        need(1);
        Val x = rank4(0);
        int[] xs = x.shape();
        int padding = optByte(0, PADDING_SAME), sw = optInt(1, 0), sh = optInt(2, 0), fw = optInt(3, 0), fh = optInt(4, 0);
        int act = optByte(5, ACT_NONE);
        if (act == ACT_NONE) act = NO_ACTIVATION; // the output range of a pooling follows its input's: nothing to infer
        int[] wy = window(xs[1], fh, sh, 1, padding, "height"), wx = window(xs[2], fw, sw, 1, padding, "width");
        String name = fresh(clean(output()));
        int[] shape = {xs[0], wy[0], wx[0], xs[3]};
        if (average && wy[0] == 1 && wx[0] == 1 && fh == xs[1] && fw == xs[2] && wy[1] + wy[2] + wx[1] + wx[2] == 0) {
            emit(name, "globalavgpool", List.of(x.name()), Map.of());
        } else {
            if (wy[1] != wy[2] || wx[1] != wx[2])
                throw fail("SAME padding that TF splits unevenly (" + Arrays.toString(wy) + ", " + Arrays.toString(wx) + ") is not supported for pooling");
            Map<String, Object> attrs = new LinkedHashMap<>();
            attrs.put("kernel", new int[] {fh, fw});
            attrs.put("stride", new int[] {sh, sw});
            attrs.put("padding", new int[] {wy[1], wx[1]});
            if (average) attrs.put("count_include_pad", false);
            emit(name, average ? "avgpool" : "maxpool", List.of(x.name()), attrs);
        }
        finish(name, shape, act);
    }

    private void mean() {
        need(2);
        Val x = val(0);
        int[] xs = x.shape();
        int[] axes = ints(1, "axes");
        boolean keep = optBool(0, false);
        boolean[] reduced = new boolean[xs.length];
        for (int a : axes) {
            int n = a < 0 ? a + xs.length : a;
            if (n < 0 || n >= xs.length) throw fail("axis " + a + " is out of range for " + Arrays.toString(xs));
            reduced[n] = true;
        }
        List<Integer> shape = new ArrayList<>();
        for (int i = 0; i < xs.length; i++) if (!reduced[i]) shape.add(xs[i]); else if (keep) shape.add(1);
        int[] out = shape.stream().mapToInt(Integer::intValue).toArray();
        String base = clean(output());
        String name;
        if (xs.length == 4 && !reduced[0] && reduced[1] && reduced[2] && !reduced[3]) {
            String pool = fresh(keep ? base : base + "/pool");
            emit(pool, "globalavgpool", List.of(x.name()), Map.of());
            name = pool;
            if (!keep) {
                name = fresh(base);
                emit(name, "flatten", List.of(pool), Map.of("start", 1, "end", -1));
            }
        } else if (xs.length == 4 && keep) {
            int[] nchw = {0, 2, 3, 1};
            int[] mapped = new int[axes.length];
            for (int i = 0; i < axes.length; i++) mapped[i] = nchw[axes[i] < 0 ? axes[i] + 4 : axes[i]];
            name = fresh(base);
            emit(name, "mean", List.of(x.name()), Map.of("axes", mapped, "keepdims", true));
        } else {
            String input = toTfLayout(x, base);
            name = fresh(base);
            emit(name, "mean", List.of(input), Map.of("axes", axes, "keepdims", keep));
        }
        finish(name, out, NO_ACTIVATION);
    }

    private void reshape() {
        need(1);
        Val x = val(0);
        TfliteTensor o = output();
        int[] target = o.shape();
        if (target.length == 0 && hasInput(1) && constTensor(input(1)) != null) target = ints(1, "shape");
        long n = 1, m = 1;
        int unknown = -1;
        for (int d : x.shape()) n *= d;
        for (int i = 0; i < target.length; i++) {
            if (target[i] == -1 && unknown < 0) unknown = i;
            else if (target[i] < 0) throw fail("invalid target shape " + Arrays.toString(target));
            else m *= target[i];
        }
        if (unknown >= 0) {
            if (m == 0 || n % m != 0) throw fail("cannot reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(target));
            target = target.clone();
            target[unknown] = (int) (n / m);
            m = n;
        }
        if (m != n) throw fail("cannot reshape " + Arrays.toString(x.shape()) + " (" + n + " elements) to " + Arrays.toString(target));
        String base = clean(o);
        String input = toTfLayout(x, base);
        boolean keepBatch = x.shape().length > 0 && target.length > 0 && x.shape()[0] == target[0];
        int[] graftTarget = target.clone();
        boolean permuteAfter = false;
        if (target.length == 4) {
            if (target[3] == 1 || (long) target[1] * target[2] == 1) graftTarget = new int[] {target[0], target[3], target[1], target[2]};
            else permuteAfter = true;
        }
        if (keepBatch) graftTarget[0] = -1;
        String name = fresh(permuteAfter ? base + "/reshape" : base);
        emit(name, "reshape", List.of(input), Map.of("shape", graftTarget));
        if (permuteAfter) {
            String p = fresh(base);
            emit(p, "permute", List.of(name), Map.of("order", new int[] {0, 3, 1, 2}));
            name = p;
        }
        finish(name, target, NO_ACTIVATION);
    }

    private void softmax() {
        need(1);
        Val x = val(0);
        float beta = optFloat(0, 1f);
        if (!Float.isFinite(beta)) throw fail("softmax beta " + beta + " is not finite");
        String base = clean(output());
        String input = x.name();
        if (beta != 1f) {
            Val b = constNode(-1, base + "/beta", new float[] {beta}, new int[] {1}, new int[] {1});
            String scaled = fresh(base + "/scaled");
            emit(scaled, "mul", List.of(input, b.name()), Map.of());
            input = scaled;
        }
        String name = fresh(base);
        emit(name, "softmax", List.of(input), Map.of("axis", x.shape().length == 4 ? 1 : -1));
        finish(name, x.shape(), NO_ACTIVATION);
    }

    private void concat() {
        need(1);
        int axis = optInt(0, 0);
        int act = optByte(1, ACT_NONE);
        if (act == ACT_NONE) act = NO_ACTIVATION;
        List<String> ins = new ArrayList<>();
        int[] shape = null;
        for (int k = 0; k < op.inputs().length; k++) {
            if (op.inputs()[k] < 0) continue;
            Val v = val(k);
            int[] s = v.shape();
            if (shape == null) {
                shape = s.clone();
                if (axis < 0) axis += s.length;
                if (axis < 0 || axis >= s.length) throw fail("axis " + optInt(0, 0) + " is out of range for " + Arrays.toString(s));
            } else {
                if (s.length != shape.length) throw fail("inputs of ranks " + shape.length + " and " + s.length + " cannot be concatenated");
                for (int d = 0; d < s.length; d++)
                    if (d != axis && s[d] != shape[d]) throw fail("cannot concatenate " + Arrays.toString(s) + " to " + Arrays.toString(shape));
                long sum = (long) shape[axis] + s[axis];
                if (sum > Integer.MAX_VALUE) throw fail("concatenation is too large");
                shape[axis] = (int) sum;
            }
            ins.add(v.name());
        }
        int graftAxis = shape.length == 4 ? new int[] {0, 2, 3, 1}[axis] : axis;
        String name = fresh(clean(output()));
        emit(name, "concat", ins, Map.of("axis", graftAxis));
        finish(name, shape, act);
    }

    private void pad() {
        need(2);
        Val x = rank4(0);
        int[] p = ints(1, "paddings");
        if (p.length != 8) throw fail("paddings of a rank-4 tensor must be [4, 2], got " + p.length + " values");
        for (int v : p) if (v < 0) throw fail("negative padding " + Arrays.toString(p));
        if (p[0] != 0 || p[1] != 0 || p[6] != 0 || p[7] != 0) throw fail("padding the batch or channel axis is not supported: " + Arrays.toString(p));
        int[] xs = x.shape();
        long h = (long) xs[1] + p[2] + p[3], w = (long) xs[2] + p[4] + p[5];
        if (h > Integer.MAX_VALUE || w > Integer.MAX_VALUE) throw fail("padded shape is too large");
        String name = fresh(clean(output()));
        emit(name, "pad", List.of(x.name()), Map.of("pads", new int[] {p[2], p[3], p[4], p[5]}));
        finish(name, new int[] {xs[0], (int) h, (int) w, xs[3]}, NO_ACTIVATION);
    }

    /** QUANTIZE and DEQUANTIZE: the identity in float. */
    private void alias() {
        need(1);
        TfliteTensor in = input(0), out = output();
        int[] declared = out.shape();
        if (declared.length > 0 && !Arrays.equals(declared, in.shape())) throw fail("changes shape " + in + " to " + out);
        if (!vals.containsKey(in.index()) && constTensor(in) != null) {
            constAlias.put(out.index(), constTensor(in).index());
            return;
        }
        vals.put(out.index(), val(0));
    }

    private void unary(String kind, Map<String, Object> attrs) {
        need(1);
        Val x = val(0);
        String name = fresh(clean(output()));
        emit(name, kind, List.of(x.name()), attrs);
        finish(name, x.shape(), NO_ACTIVATION);
    }
}
