package dev.graft.zoo.tflite;

import static dev.graft.zoo.tflite.TfliteSchema.*;

import dev.graft.GraftException;
import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.ModelFile;
import dev.graft.zoo.TensorInfo;
import dev.graft.zoo.tflite.TfliteSchema.TensorType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A TensorFlow Lite model file ({@code .tflite}, FlatBuffers with the identifier {@code TFL3} at byte
 * offset 4), opened with a bounds-checked reader: a damaged or hostile file fails with a one-line
 * {@link ImportException} naming the file and what is wrong, never with another exception and never
 * with an allocation larger than the file.
 *
 * <p>{@link #read} checks the whole schema of the first subgraph (tensor types, shapes, buffer sizes,
 * quantization parameters, operator references). {@link #graph()} converts it to a float32 NCHW
 * {@link GraphModule}: TFLite's NHWC activations become NCHW, weights are dequantized (uint8/int8/int16
 * per tensor or per channel, int32/int64 biases, float16) and re-laid out (OHWI → OIHW, depthwise
 * 1HW(C·M) → (C·M)1HW with groups), quantization-only ops disappear, and activations that old
 * quantized models folded into an output range (zero point at the integer minimum: ReLU, range [0, 6]:
 * ReLU6) become explicit. The graph takes an NCHW image batch and its rank-4 outputs are NCHW as well.
 *
 * <p>Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL, DIV,
 * AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, RESHAPE, SQUEEZE, SOFTMAX, CONCATENATION, PAD, QUANTIZE,
 * DEQUANTIZE, RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, HARD_SWISH; any other makes {@link #graph()}
 * fail naming the operator.
 */
public final class TfliteModel implements ModelFile {
    /** One operator of the first subgraph. */
    record Op(int index, int code, String name, int[] inputs, int[] outputs, FlatBuffer.Table options) {}

    private final Path path;
    private final FlatBuffer fb;
    private final long version;
    private final String description;
    private final int subgraphCount;
    private final List<String> opcodeNames;
    private final long[] bufferStart;
    private final long[] bufferLength;
    private final List<TfliteTensor> tensors;
    private final List<Op> ops;
    private final int[] inputs;
    private final int[] outputs;
    private final boolean[] sparse;
    private TfliteGraph.Result built;

    private TfliteModel(Path path, FlatBuffer fb) {
        this.path = path;
        this.fb = fb;
        String id = fb.identifier();
        if (id == null) throw new ImportException(path, "file is " + fb.size() + " bytes, too short to be a TFLite model");
        if (!id.equals("TFL3"))
            throw new ImportException(path, "not a TFLite model: no 'TFL3' identifier at byte offset 4");
        FlatBuffer.Table model = fb.root("model");
        version = model.getUInt(MODEL_VERSION, 0);
        if (version != 3) throw new ImportException(path, "TFLite schema version " + version + ", this reader knows version 3");
        description = printable(model.getString(MODEL_DESCRIPTION, "description"));

        // operator codes
        FlatBuffer.Vec codes = model.getVector(MODEL_OPERATOR_CODES, 4, "operator_codes");
        opcodeNames = new ArrayList<>();
        List<Integer> opcodeBuiltins = new ArrayList<>();
        for (int i = 0; codes != null && i < codes.length; i++) {
            FlatBuffer.Table c = codes.getTable(i, "operator code " + i);
            int builtin = Math.max(c.getByte(OPCODE_DEPRECATED_BUILTIN, 0), c.getInt(OPCODE_BUILTIN, 0));
            String name = opName(builtin);
            if (builtin == CUSTOM) {
                String custom = c.getString(OPCODE_CUSTOM, "custom_code");
                name = "CUSTOM(" + (custom == null ? "?" : printable(custom)) + ")";
            }
            opcodeBuiltins.add(builtin);
            opcodeNames.add(name);
        }

        // buffers
        FlatBuffer.Vec bufs = model.getVector(MODEL_BUFFERS, 4, "buffers");
        int nb = bufs == null ? 0 : bufs.length;
        bufferStart = new long[nb];
        bufferLength = new long[nb];
        for (int i = 0; i < nb; i++) {
            FlatBuffer.Table b = bufs.getTable(i, "buffer " + i);
            FlatBuffer.Vec data = b.getVector(BUFFER_DATA, 1, "data");
            if (data != null && data.length > 0) {
                bufferStart[i] = data.start;
                bufferLength[i] = data.length;
            } else {
                long offset = b.getLong(BUFFER_OFFSET, 0), size = b.getLong(BUFFER_SIZE, 0);
                if (offset > 1) {
                    if (size < 0 || offset + size > fb.size() || offset + size < 0)
                        throw new ImportException(path, "buffer " + i + " claims " + size + " bytes at file offset " + offset
                                + ", past the end of the " + fb.size() + "-byte file");
                    bufferStart[i] = offset;
                    bufferLength[i] = size;
                }
            }
        }

        // the first subgraph
        FlatBuffer.Vec subgraphs = model.getVector(MODEL_SUBGRAPHS, 4, "subgraphs");
        if (subgraphs == null || subgraphs.length == 0) throw new ImportException(path, "model has no subgraph");
        subgraphCount = subgraphs.length;
        FlatBuffer.Table sg = subgraphs.getTable(0, "subgraph 0");
        FlatBuffer.Vec ts = sg.getVector(SUBGRAPH_TENSORS, 4, "tensors");
        int nt = ts == null ? 0 : ts.length;
        List<TfliteTensor> tensorList = new ArrayList<>(nt);
        sparse = new boolean[nt];
        for (int i = 0; i < nt; i++) {
            FlatBuffer.Table t = ts.getTable(i, "tensor " + i);
            tensorList.add(readTensor(i, t));
            sparse[i] = t.has(TENSOR_SPARSITY);
        }
        tensors = List.copyOf(tensorList);
        inputs = indices(sg.getVector(SUBGRAPH_INPUTS, 4, "inputs"), "subgraph input", false);
        outputs = indices(sg.getVector(SUBGRAPH_OUTPUTS, 4, "outputs"), "subgraph output", false);
        FlatBuffer.Vec os = sg.getVector(SUBGRAPH_OPERATORS, 4, "operators");
        List<Op> opList = new ArrayList<>();
        for (int i = 0; os != null && i < os.length; i++) {
            FlatBuffer.Table o = os.getTable(i, "operator " + i);
            long code = o.getUInt(OP_OPCODE_INDEX, 0);
            if (code >= opcodeNames.size())
                throw new ImportException(path, "operator " + i + " uses operator code " + code + ", the file has " + opcodeNames.size());
            String what = "operator " + i + " (" + opcodeNames.get((int) code) + ")";
            int[] in = indices(o.getVector(OP_INPUTS, 4, "inputs"), what + " input", true);
            int[] out = indices(o.getVector(OP_OUTPUTS, 4, "outputs"), what + " output", false);
            FlatBuffer.Table options = o.getTable(OP_OPTIONS, "builtin_options");
            opList.add(new Op(i, opcodeBuiltins.get((int) code), opcodeNames.get((int) code), in, out, options));
        }
        ops = List.copyOf(opList);
    }

    private int[] indices(FlatBuffer.Vec v, String what, boolean optional) {
        int[] idx = v == null ? new int[0] : v.toIntArray();
        for (int k : idx)
            if ((k < 0 && !(optional && k == -1)) || k >= tensors.size())
                throw new ImportException(path, what + " refers to tensor " + k + ", the subgraph has " + tensors.size());
        return idx;
    }

    private TfliteTensor readTensor(int i, FlatBuffer.Table t) {
        String name = printable(t.getString(TENSOR_NAME, "name"));
        if (name == null || name.isEmpty()) name = "tensor_" + i;
        String label = "tensor " + i + " '" + name + "'";
        FlatBuffer.Vec sv = t.getVector(TENSOR_SHAPE, 4, "shape");
        int[] shape = sv == null ? new int[0] : sv.toIntArray();
        long numel = 1;
        for (int d : shape) {
            if (d < 0) throw new ImportException(path, label + " has shape " + Arrays.toString(shape) + " with a negative dimension");
            numel *= d;
            if (numel > Integer.MAX_VALUE)
                throw new ImportException(path, label + " has shape " + Arrays.toString(shape) + ", more than 2^31-1 elements");
        }
        int code = t.getByte(TENSOR_TYPE, 0);
        TensorType type = TensorType.of(code);
        if (type == null) throw new ImportException(path, label + " has unknown tensor type " + code);
        long buffer = t.getUInt(TENSOR_BUFFER, 0);
        if (buffer >= bufferStart.length)
            throw new ImportException(path, label + " refers to buffer " + buffer + ", the file has " + bufferStart.length);
        long bytes = bufferLength[(int) buffer];
        if (bytes > 0) {
            long need = type.byteSize(numel);
            if (need >= 0 && need != bytes)
                throw new ImportException(path, label + " of shape " + Arrays.toString(shape) + " and type " + type.dtype + " needs " + need
                        + " bytes, buffer " + buffer + " holds " + bytes);
        }
        TfliteTensor.Quantization q = null;
        FlatBuffer.Table qt = t.getTable(TENSOR_QUANTIZATION, "quantization");
        if (qt != null) {
            float[] scale = floats(qt.getVector(QUANT_SCALE, 4, "scale"));
            FlatBuffer.Vec zv = qt.getVector(QUANT_ZERO_POINT, 8, "zero_point");
            long[] zp = zv == null ? new long[0] : zv.toLongArray();
            float[] min = floats(qt.getVector(QUANT_MIN, 4, "min")), max = floats(qt.getVector(QUANT_MAX, 4, "max"));
            int dim = qt.getInt(QUANT_DIMENSION, 0);
            if (qt.getUByte(QUANT_DETAILS_TYPE, 0) != 0)
                throw new ImportException(path, label + " uses custom quantization details, which are not supported");
            if (zp.length == 0 && scale.length > 0) zp = new long[scale.length];
            if (zp.length != scale.length)
                throw new ImportException(path, label + " has " + scale.length + " quantization scales but " + zp.length + " zero points");
            if (scale.length > 1 && (dim < 0 || dim >= shape.length || shape[dim] != scale.length))
                throw new ImportException(path, label + " of shape " + Arrays.toString(shape) + " has " + scale.length
                        + " per-channel scales along dimension " + dim);
            if (scale.length > 0 || min.length > 0 || max.length > 0) q = new TfliteTensor.Quantization(scale, zp, dim, min, max);
        }
        return new TfliteTensor(i, name, type.dtype, shape, (int) buffer, bytes, q);
    }

    /** {@code s} with control characters replaced by '?', so that names from the file keep messages on one line. */
    static String printable(String s) {
        if (s == null) return null;
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> sb.appendCodePoint(Character.isISOControl(c) || c == 0x2028 || c == 0x2029 ? '?' : c));
        return sb.toString();
    }

    private static float[] floats(FlatBuffer.Vec v) {
        return v == null ? new float[0] : v.toFloatArray();
    }

    // ------------------------------------------------------------------ opening

    /**
     * Opens and checks a {@code .tflite} file (read into memory: TFLite files are a few MB).
     *
     * @throws ImportException when the file cannot be read, is not a TFLite model, or is damaged
     */
    public static TfliteModel read(Path path) {
        long size;
        try {
            size = Files.size(path);
        } catch (IOException e) {
            throw new ImportException(path, "cannot read the file: " + e.getMessage(), e);
        }
        if (size > Integer.MAX_VALUE - 16)
            throw new ImportException(path, "file is " + size + " bytes; TFLite files over 2 GiB are not supported");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException | OutOfMemoryError e) {
            throw new ImportException(path, "cannot read the file: " + e.getMessage(), e);
        }
        return fromBytes(path, bytes);
    }

    /**
     * True when the file starts like a TFLite model: at least 8 bytes with the identifier {@code TFL3} at
     * byte offset 4. Reads only those bytes; false for unreadable files.
     */
    public static boolean isTflite(Path file) {
        try (var in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(8);
            return head.length == 8 && head[4] == 'T' && head[5] == 'F' && head[6] == 'L' && head[7] == '3';
        } catch (IOException e) {
            return false;
        }
    }

    /** Opens a model held in memory; {@code path} names it in messages. */
    static TfliteModel fromBytes(Path path, byte[] bytes) {
        try {
            return new TfliteModel(path, new FlatBuffer(path, ByteBuffer.wrap(bytes)));
        } catch (ImportException e) {
            throw e;
        } catch (RuntimeException e) {
            // A reader bug must still surface as a one-line import failure naming the file.
            throw new ImportException(path, "damaged TFLite file: " + e, e);
        }
    }

    // ------------------------------------------------------------------ ModelFile

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String format() {
        return "tflite";
    }

    /** The schema version (3 for every file this reader accepts). */
    public long version() {
        return version;
    }

    /** The model's description string (for example "TOCO Converted."), or null. */
    public String description() {
        return description;
    }

    /** The tensors of the first subgraph, in file order. */
    public List<TfliteTensor> tfliteTensors() {
        return tensors;
    }

    /** The first subgraph's input tensors. */
    public List<TfliteTensor> inputs() {
        return Arrays.stream(inputs).mapToObj(tensors::get).toList();
    }

    /** The first subgraph's output tensors. */
    public List<TfliteTensor> outputs() {
        return Arrays.stream(outputs).mapToObj(tensors::get).toList();
    }

    /** Number of operators of each type in the first subgraph, by the schema's op name, sorted by name. */
    public Map<String, Integer> operatorCounts() {
        Map<String, Integer> counts = new TreeMap<>();
        for (Op op : ops) counts.merge(op.name(), 1, Integer::sum);
        return counts;
    }

    @Override
    public List<TensorInfo> tensors() {
        return tensors.stream().map(t -> new TensorInfo(t.name(), t.dtype(), t.shape())).toList();
    }

    /**
     * The graph's weights as float32 tensors under the parameter names of {@link #graph()} (Graft
     * layouts: OIHW convolutions, [out, in] linear layers).
     *
     * @throws ImportException when the graph cannot be built (see {@link #graph()})
     */
    @Override
    public Map<String, Tensor> stateDict() {
        return new LinkedHashMap<>(build().graph().stateDict());
    }

    /**
     * The first subgraph as a float32 NCHW graph with the dequantized weights loaded, in inference mode.
     * Built once; later calls return the same module.
     *
     * @throws ImportException when an operator is not supported or the file's shapes are inconsistent,
     *                         naming the operator and tensor
     */
    @Override
    public Optional<GraphModule> graph() {
        return Optional.of(build().graph());
    }

    private synchronized TfliteGraph.Result build() {
        if (built == null) {
            try {
                built = new TfliteGraph(this).build();
            } catch (ImportException e) {
                throw e;
            } catch (GraftException e) {
                throw new ImportException(path, e.getMessage(), e);
            }
        }
        return built;
    }

    /**
     * The preprocessing the input tensor implies, for an NHWC RGB input of shape [1, H, W, 3]: stretch
     * to H × H with bilinear interpolation (TFLite's classifiers take the whole image), then map pixels
     * p ∈ [0, 255] to what the model wants. A uint8 input with scale s and zero point z wants
     * s · (p − z): mean z / 255 and std 1 / (255 s) in [0, 1] units (Coral MobileNets: scale 1/128, zero
     * point 128, so [−1, 1]). An int8 input takes p − 128, so the mean is (z + 128) / 255. A float input
     * follows the TF MobileNet convention p / 127.5 − 1 (mean 0.5, std 0.5).
     */
    @Override
    public Optional<Preprocessing> preprocessing() {
        if (inputs.length != 1) return Optional.empty();
        TfliteTensor in = tensors.get(inputs[0]);
        int[] s = in.shape();
        if (s.length != 4 || s[3] != 3 || s[1] <= 0) return Optional.empty();
        double mean = 0.5, std = 0.5;
        TfliteTensor.Quantization q = in.quantization();
        boolean quantized = in.dtype().equals("U8") || in.dtype().equals("I8");
        if (quantized) {
            if (q == null || !q.perTensor() || !(q.scale()[0] > 0) || !Float.isFinite(q.scale()[0])) return Optional.empty();
            double scale = q.scale()[0], zp = q.zeroPoint()[0] + (in.dtype().equals("I8") ? 128 : 0);
            mean = zp / 255.0;
            std = 1.0 / (255.0 * scale);
        } else if (!in.dtype().equals("F32") && !in.dtype().equals("F16")) {
            return Optional.empty();
        }
        int h = s[1];
        return Optional.of(new Preprocessing(h, h, h, new double[] {mean, mean, mean}, new double[] {std, std, std}, "bilinear",
                Preprocessing.Resize.STRETCH));
    }

    /**
     * The graph split for transfer learning with {@link GraphClassifier#split}: the backbone up to the
     * global average pooling and the classifier after it (a 1×1 convolution or FULLY_CONNECTED head
     * becomes a Linear layer; a feature extractor without a head gets an Identity); the final softmax is
     * dropped, so the classifier outputs logits. Its architecture name is the file name without
     * {@code .tflite}.
     *
     * @throws ImportException when the graph cannot be built, has no RGB image input, or does not end in
     *                         a global pooling followed by a simple head
     */
    public GraphClassifier classifier() {
        Preprocessing p = preprocessing().orElseThrow(() -> new ImportException(path,
                "the model's input " + (inputs.length == 1 ? tensors.get(inputs[0]) : inputs.length + " tensors") + " is not one RGB image"));
        if ((long) p.inputSize() * p.inputSize() * 3 > 1 << 26)
            throw new ImportException(path, "the model's input " + tensors.get(inputs[0]) + " is too large for an image classifier");
        String name = path.getFileName().toString().replaceFirst("\\.tflite$", "");
        try {
            return GraphClassifier.split(name, build().graph(), p);
        } catch (ImportException e) {
            throw e;
        } catch (GraftException e) {
            throw new ImportException(path, e.getMessage(), e);
        }
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append("format tflite, schema version ").append(version);
        if (description != null && !description.isBlank()) sb.append(", description '").append(description.strip()).append('\'');
        sb.append('\n');
        sb.append("subgraphs ").append(subgraphCount).append(" (the first is read), tensors ").append(tensors.size()).append(", operators ")
                .append(ops.size()).append(", buffers ").append(bufferStart.length).append('\n');
        for (int i : inputs) sb.append("input  ").append(tensors.get(i)).append('\n');
        for (int o : outputs) sb.append("output ").append(tensors.get(o)).append('\n');
        sb.append("operators:");
        operatorCounts().forEach((k, v) -> sb.append(' ').append(k).append(" x").append(v));
        sb.append('\n');
        long weights = 0;
        for (TfliteTensor t : tensors) weights += t.dataBytes();
        sb.append("tensors (").append(weights).append(" bytes of constant data):\n");
        for (TfliteTensor t : tensors) {
            sb.append(String.format("  %4d %s", t.index(), t));
            if (t.hasData()) sb.append(" [").append(t.dataBytes()).append(" bytes]");
            sb.append('\n');
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return "TfliteModel[" + path.getFileName() + ", " + tensors.size() + " tensors, " + ops.size() + " operators]";
    }

    // ------------------------------------------------------------------ for the graph builder

    List<Op> ops() {
        return ops;
    }

    int[] inputIndices() {
        return inputs.clone();
    }

    int[] outputIndices() {
        return outputs.clone();
    }

    boolean isSparse(int tensor) {
        return sparse[tensor];
    }

    FlatBuffer flatBuffer() {
        return fb;
    }

    /** The constant data of a tensor (little-endian), or null when it has none. */
    ByteBuffer data(TfliteTensor t) {
        if (!t.hasData()) return null;
        return fb.slice(bufferStart[t.buffer()], bufferLength[t.buffer()], "tensor '" + t.name() + "'");
    }
}
