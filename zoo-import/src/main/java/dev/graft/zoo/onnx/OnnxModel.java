package dev.graft.zoo.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.UnsafeByteOperations;
import dev.graft.GraftException;
import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.graph.GraphNode;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.ModelFile;
import dev.graft.zoo.TensorInfo;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ModelProto;
import dev.graft.zoo.onnx.proto.OnnxProto.NodeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.OperatorSetIdProto;
import dev.graft.zoo.onnx.proto.OnnxProto.StringStringEntryProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorShapeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ValueInfoProto;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An ONNX model file ({@code .onnx}, as written by {@code torch.onnx.export}) opened as a Graft
 * {@link GraphModule}.
 *
 * <p>{@link #read} parses the protobuf (with generated code from a trimmed copy of ONNX's schema),
 * checks every initializer and converts the graph to {@link GraphNode}s; weights are decoded from the
 * file only when {@link #graph()} or {@link #stateDict()} is called. The file is read whole into memory
 * (so it must fit in a Java array, at most {@link #MAX_FILE_BYTES}) and parsed with a size and
 * recursion limit; every length in it is checked against the bytes actually present, so hostile or
 * damaged files fail with a one-line {@link ImportException} instead of allocating what they claim.
 *
 * <p>Supported: a single-input, single-output graph of the default ONNX domain, opset 7 to 22, with
 * {@code Conv} (group, pads, strides, dilations, auto_pad), {@code BatchNormalization},
 * {@code Relu}, {@code Clip}, {@code Sigmoid}, {@code Tanh}, {@code HardSwish},
 * {@code HardSigmoid} (PyTorch's), {@code Add}/{@code Sub}/{@code Mul}/{@code Div},
 * {@code Gemm}, {@code MatMul} (with a following bias {@code Add} fused into one Linear layer),
 * {@code GlobalAveragePool}, {@code AveragePool}, {@code MaxPool}, {@code Flatten}, {@code Reshape},
 * {@code Concat}, {@code Constant}, {@code Identity}, {@code Dropout}, {@code Softmax},
 * {@code ReduceMean}, {@code Transpose}, {@code Pad} (zeros, H and W), and the shape arithmetic that
 * exporters emit ({@code Shape}, {@code Gather}, {@code Unsqueeze}, {@code Squeeze}, {@code Cast},
 * {@code Concat} of constants), which is folded at import time with the batch size kept dynamic.
 * External tensor data is refused. Weights must be constants (initializers or {@code Constant}s).
 *
 * <p>{@link #preprocessing()} is read from the model's metadata ({@code graft.preprocessing.*} keys,
 * see {@code docs/ONNX.md}) and is empty when the file does not say.
 */
public final class OnnxModel implements ModelFile {
    /** Files larger than this (the protobuf and Java array limit) are refused. */
    public static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 8;
    /** Lowest and highest supported version of the default ({@code ai.onnx}) operator set. */
    public static final int MIN_OPSET = 7, MAX_OPSET = 22;
    /** Nesting limit of protobuf messages (subgraphs), against stack exhaustion. */
    private static final int RECURSION_LIMIT = 32;
    /** Metadata key prefix of the preprocessing description. */
    public static final String PREPROCESSING_PREFIX = "graft.preprocessing.";

    private final Path path;
    private final long fileBytes;
    private final ModelProto model;
    private final int opset;
    private final List<TensorInfo> tensors;
    private final OnnxGraphConverter.Plan plan;
    private final Preprocessing preprocessing;

    private OnnxModel(Path path, long fileBytes, ModelProto model, int opset, List<TensorInfo> tensors, OnnxGraphConverter.Plan plan,
                      Preprocessing preprocessing) {
        this.path = path;
        this.fileBytes = fileBytes;
        this.model = model;
        this.opset = opset;
        this.tensors = tensors;
        this.plan = plan;
        this.preprocessing = preprocessing;
    }

    /** Opens {@code file} with the default size limit {@link #MAX_FILE_BYTES}. */
    public static OnnxModel read(Path file) {
        return read(file, MAX_FILE_BYTES);
    }

    /**
     * Opens, checks and converts {@code file}, refusing files larger than {@code maxBytes}.
     *
     * @throws ImportException when the file cannot be read, is not a valid ONNX model, or uses something
     *                         Graft does not support (the message names the node, tensor or shape)
     */
    public static OnnxModel read(Path file, long maxBytes) {
        long size;
        byte[] bytes;
        try {
            if (!Files.isRegularFile(file)) throw OnnxTensors.fail(file, "not a regular file");
            size = Files.size(file);
            if (size == 0) throw OnnxTensors.fail(file, "empty file, not an ONNX model");
            long limit = Math.min(maxBytes, MAX_FILE_BYTES);
            if (size > limit) throw OnnxTensors.fail(file, "file is " + size + " bytes, more than the limit of " + limit);
            bytes = new byte[(int) size];
            try (InputStream in = Files.newInputStream(file)) {
                int n = in.readNBytes(bytes, 0, bytes.length);
                if (n != size || in.read() >= 0) throw OnnxTensors.fail(file, "file changed size while being read");
            }
        } catch (IOException e) {
            throw OnnxTensors.fail(file, "cannot read: " + e.getMessage(), e);
        }
        ModelProto model;
        try {
            // aliasing: raw_data byte strings share the file's array instead of being copied
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(bytes).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(bytes.length);
            in.setRecursionLimit(RECURSION_LIMIT);
            model = ModelProto.parseFrom(in);
        } catch (IOException e) {
            throw OnnxTensors.fail(file, "not a valid ONNX protobuf: " + oneLine(e.getMessage()), e);
        } catch (RuntimeException e) {
            throw OnnxTensors.fail(file, "not a valid ONNX protobuf: " + oneLine(String.valueOf(e)), e);
        }
        return open(file, size, model);
    }

    private static String oneLine(String s) {
        if (s == null) return "(no detail)";
        String line = s.strip().replaceAll("\\s+", " ");
        return line.length() > 300 ? line.substring(0, 300) + "…" : line;
    }

    private static OnnxModel open(Path file, long size, ModelProto model) {
        if (model.getIrVersion() <= 0) throw OnnxTensors.fail(file, "not an ONNX model: ir_version is " + model.getIrVersion());
        if (!model.hasGraph()) throw OnnxTensors.fail(file, "not an ONNX model: it has no graph");
        int opset = -1;
        for (OperatorSetIdProto o : model.getOpsetImportList())
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) opset = Math.clamp(o.getVersion(), -1, Integer.MAX_VALUE);
        if (opset < 0) throw OnnxTensors.fail(file, "the model imports no version of the default ONNX operator set");
        if (opset < MIN_OPSET || opset > MAX_OPSET)
            throw OnnxTensors.fail(file, "opset " + opset + " is not supported (Graft reads opsets " + MIN_OPSET + " to " + MAX_OPSET + ")");
        GraphProto graph = model.getGraph();
        List<TensorInfo> infos = new ArrayList<>();
        Map<String, int[]> shapes = new HashMap<>();
        for (TensorProto t : graph.getInitializerList()) {
            String what = "initializer " + OnnxTensors.label(t).substring("tensor ".length());
            if (t.getName().isEmpty()) throw OnnxTensors.fail(file, "an initializer has no name");
            int[] shape = OnnxTensors.check(file, t, what);
            if (shapes.put(t.getName(), shape) != null) throw OnnxTensors.fail(file, "two initializers are named '" + t.getName() + "'");
            infos.add(new TensorInfo(t.getName(), OnnxTensors.dtypeName(t.getDataType()), shape));
        }
        OnnxGraphConverter.Plan plan = OnnxGraphConverter.convert(file, graph, opset, shapes);
        Preprocessing pre = preprocessingFrom(file, model.getMetadataPropsList());
        return new OnnxModel(file, size, model, opset, List.copyOf(infos), plan, pre);
    }

    private static Preprocessing preprocessingFrom(Path file, List<StringStringEntryProto> metadata) {
        Map<String, String> p = new HashMap<>();
        for (StringStringEntryProto e : metadata)
            if (e.getKey().startsWith(PREPROCESSING_PREFIX)) p.put(e.getKey().substring(PREPROCESSING_PREFIX.length()), e.getValue().strip());
        if (p.isEmpty()) return null;
        Preprocessing d = Preprocessing.IMAGENET;
        try {
            int input = p.containsKey("input_size") ? Integer.parseInt(p.get("input_size")) : d.inputSize();
            int crop = p.containsKey("crop_size") ? Integer.parseInt(p.get("crop_size")) : p.containsKey("input_size") ? input : d.cropSize();
            int resize = p.containsKey("resize_size") ? Integer.parseInt(p.get("resize_size")) : Math.max(crop, (int) Math.round(crop / 0.875));
            double[] mean = p.containsKey("mean") ? triple(p.get("mean")) : d.mean();
            double[] std = p.containsKey("std") ? triple(p.get("std")) : d.std();
            String interpolation = p.getOrDefault("interpolation", d.interpolation());
            Preprocessing.Resize mode = p.containsKey("resize") ? Preprocessing.Resize.valueOf(p.get("resize").toUpperCase(Locale.ROOT)) : d.resize();
            return new Preprocessing(input, resize, crop, mean, std, interpolation, mode);
        } catch (IllegalArgumentException | GraftException e) {
            throw OnnxTensors.fail(file, "metadata " + PREPROCESSING_PREFIX + "* is invalid: " + oneLine(e.getMessage()));
        }
    }

    private static double[] triple(String s) {
        String[] parts = s.replace("[", "").replace("]", "").split("[,\\s]+");
        if (parts.length != 3) throw new IllegalArgumentException("'" + s + "' is not three numbers");
        double[] out = new double[3];
        for (int i = 0; i < 3; i++) out[i] = Double.parseDouble(parts[i]);
        return out;
    }

    // ------------------------------------------------------------------ ModelFile

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String format() {
        return "onnx";
    }

    /** The graph's initializers (name, stored type, shape) in file order. */
    @Override
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /**
     * The imported graph's parameters and buffers as {@link GraphModule#stateDict()} names them
     * ({@code <node module>.weight}, …; constants as {@code <node>.value}). Each call decodes the
     * weights anew.
     */
    @Override
    public Map<String, Tensor> stateDict() {
        return graph().orElseThrow().stateDict();
    }

    /** A new {@link GraphModule} in evaluation mode with the file's weights (each call builds a fresh one). */
    @Override
    public Optional<GraphModule> graph() {
        GraphModule g;
        try {
            g = new GraphModule(plan.input(), plan.output(), plan.nodes());
        } catch (GraftException e) {
            throw OnnxTensors.fail(path, "the converted graph is invalid: " + oneLine(e.getMessage()), e);
        }
        Map<String, Tensor> state = new LinkedHashMap<>();
        for (OnnxGraphConverter.Weight w : plan.weights()) {
            String module = g.moduleName(w.node());
            state.put(module + "." + w.param(), Tensor.of(w.data().get(), w.shape()));
        }
        try {
            g.loadStateDict(state, true);
        } catch (GraftException e) {
            throw OnnxTensors.fail(path, "weights do not fit the converted graph: " + oneLine(e.getMessage()), e);
        }
        g.eval();
        return Optional.of(g);
    }

    @Override
    public Optional<Preprocessing> preprocessing() {
        return Optional.ofNullable(preprocessing);
    }

    /**
     * The graph split for transfer learning at its global average pooling ({@link GraphClassifier}):
     * the Linear head can be replaced with {@code replaceClassifier(numClasses)}. The architecture name
     * is the file name without {@code .onnx}; preprocessing is the file's or ImageNet's.
     *
     * @throws ImportException when the graph has no global pooling followed by a simple classifier head
     */
    public GraphClassifier classifier() {
        return classifier(preprocessing().orElse(Preprocessing.IMAGENET));
    }

    /** {@link #classifier()} with the given preprocessing. */
    public GraphClassifier classifier(Preprocessing preprocessing) {
        String name = path.getFileName().toString().replaceFirst("(?i)\\.onnx$", "");
        try {
            return GraphClassifier.split(name, graph().orElseThrow(), preprocessing);
        } catch (ImportException e) {
            throw e;
        } catch (GraftException e) {
            throw OnnxTensors.fail(path, oneLine(e.getMessage()), e);
        }
    }

    /** The version of the default operator set the model imports. */
    public int opset() {
        return opset;
    }

    /** The ONNX IR version of the file. */
    public long irVersion() {
        return model.getIrVersion();
    }

    /** Producer name and version, e.g. {@code pytorch 1.13.0}. */
    public String producer() {
        return (model.getProducerName() + " " + model.getProducerVersion()).strip();
    }

    /** The model's metadata properties in file order. */
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        for (StringStringEntryProto e : model.getMetadataPropsList()) m.put(e.getKey(), e.getValue());
        return Collections.unmodifiableMap(m);
    }

    /** The converted graph's nodes (without weights). */
    public List<GraphNode> nodes() {
        return plan.nodes();
    }

    /** ONNX operator types and how often the file's graph uses each, sorted by name. */
    public Map<String, Integer> opCounts() {
        Map<String, Integer> counts = new TreeMap<>();
        for (NodeProto n : model.getGraph().getNodeList()) counts.merge(n.getOpType(), 1, Integer::sum);
        return counts;
    }

    @Override
    public String describe() {
        GraphProto g = model.getGraph();
        StringBuilder sb = new StringBuilder();
        sb.append("format: onnx\n");
        sb.append("file: ").append(path.getFileName()).append(" (").append(fileBytes).append(" bytes)\n");
        sb.append("ir version: ").append(model.getIrVersion()).append(", opset: ").append(opset).append('\n');
        if (!producer().isEmpty()) sb.append("producer: ").append(producer()).append('\n');
        if (!g.getName().isEmpty()) sb.append("graph: ").append(g.getName()).append('\n');
        for (ValueInfoProto v : g.getInputList())
            if (tensors.stream().noneMatch(t -> t.name().equals(v.getName()))) sb.append("input: ").append(valueInfo(v)).append('\n');
        for (ValueInfoProto v : g.getOutputList()) sb.append("output: ").append(valueInfo(v)).append('\n');
        sb.append("nodes: ").append(g.getNodeCount()).append(" (");
        StringBuilder ops = new StringBuilder();
        opCounts().forEach((k, v) -> ops.append(ops.isEmpty() ? "" : ", ").append(k).append(' ').append(v));
        sb.append(ops).append(")\n");
        long values = 0;
        for (TensorInfo t : tensors) values += t.numel();
        sb.append("initializers: ").append(tensors.size()).append(" tensors, ").append(values).append(" values\n");
        sb.append("graft graph: ").append(plan.nodes().size()).append(" nodes, input '").append(plan.input()).append("'");
        if (plan.inputShape() != null) sb.append(' ').append(Arrays.toString(plan.inputShape()).replace("-1", "?"));
        sb.append(", output '").append(plan.output()).append("'\n");
        if (preprocessing != null) sb.append("preprocessing: ").append(preprocessing).append('\n');
        for (StringStringEntryProto e : model.getMetadataPropsList())
            sb.append("metadata: ").append(e.getKey()).append(" = ").append(oneLine(e.getValue())).append('\n');
        return sb.toString();
    }

    private static String valueInfo(ValueInfoProto v) {
        StringBuilder sb = new StringBuilder("'").append(v.getName()).append("'");
        if (v.getType().hasTensorType()) {
            sb.append(' ').append(OnnxTensors.dtypeName(v.getType().getTensorType().getElemType()));
            if (v.getType().getTensorType().hasShape()) {
                List<String> dims = new ArrayList<>();
                for (TensorShapeProto.Dimension d : v.getType().getTensorType().getShape().getDimList())
                    dims.add(d.hasDimValue() ? String.valueOf(d.getDimValue()) : d.hasDimParam() ? d.getDimParam() : "?");
                sb.append(' ').append(dims);
            }
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return "OnnxModel[" + path.getFileName() + ", opset " + opset + ", " + plan.nodes().size() + " nodes]";
    }
}
