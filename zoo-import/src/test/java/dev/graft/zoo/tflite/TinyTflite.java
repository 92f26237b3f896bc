package dev.graft.zoo.tflite;

import static dev.graft.zoo.tflite.TfliteSchema.*;

import dev.graft.zoo.tflite.FbBuilder.Table;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds small single-subgraph TFLite models in memory for operator tests. */
final class TinyTflite {
    static final int F32 = 0, F16 = 1, I32 = 2, U8 = 3, I8 = 9;

    private final List<Table> tensors = new ArrayList<>();
    private final List<byte[]> buffers = new ArrayList<>(List.of(new byte[0]));
    private final List<Integer> opcodes = new ArrayList<>();
    private final List<Table> ops = new ArrayList<>();
    private int[] inputs = {0}, outputs = {0};

    /** A tensor; {@code data} null for activations. Returns its index. */
    int tensor(String name, int type, int[] shape, byte[] data, Table quantization) {
        Table t = FbBuilder.table().ref(TENSOR_SHAPE, FbBuilder.ints(shape)).i8(TENSOR_TYPE, type).ref(TENSOR_NAME, FbBuilder.string(name));
        if (data != null) {
            buffers.add(data);
            t.i32(TENSOR_BUFFER, buffers.size() - 1);
        }
        if (quantization != null) t.ref(TENSOR_QUANTIZATION, quantization);
        tensors.add(t);
        return tensors.size() - 1;
    }

    int activation(String name, int... shape) {
        return tensor(name, F32, shape, null, null);
    }

    int floats(String name, int[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return tensor(name, F32, shape, b.array(), null);
    }

    int ints(String name, int[] shape, int... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) b.putInt(v);
        return tensor(name, I32, shape, b.array(), null);
    }

    static Table quant(float[] scale, long[] zeroPoint, int dimension) {
        return FbBuilder.table().ref(QUANT_SCALE, FbBuilder.floats(scale)).ref(QUANT_ZERO_POINT, FbBuilder.longs(zeroPoint))
                .i32(QUANT_DIMENSION, dimension);
    }

    void op(int code, int[] in, int[] out, Table options) {
        int idx = opcodes.indexOf(code);
        if (idx < 0) {
            opcodes.add(code);
            idx = opcodes.size() - 1;
        }
        Table o = FbBuilder.table().i32(OP_OPCODE_INDEX, idx).ref(OP_INPUTS, FbBuilder.ints(in)).ref(OP_OUTPUTS, FbBuilder.ints(out));
        if (options != null) o.i8(OP_OPTIONS_TYPE, 1).ref(OP_OPTIONS, options);
        ops.add(o);
    }

    TinyTflite io(int input, int output) {
        inputs = new int[] {input};
        outputs = new int[] {output};
        return this;
    }

    byte[] bytes() {
        List<Table> codes = new ArrayList<>();
        for (int c : opcodes) codes.add(FbBuilder.table().i8(OPCODE_DEPRECATED_BUILTIN, Math.min(c, 127)).i32(OPCODE_BUILTIN, c).i32(OPCODE_VERSION, 1));
        List<Table> bufs = new ArrayList<>();
        for (byte[] b : buffers) bufs.add(b.length == 0 ? FbBuilder.table() : FbBuilder.table().ref(BUFFER_DATA, FbBuilder.bytes(b)));
        Table subgraph = FbBuilder.table().ref(SUBGRAPH_TENSORS, FbBuilder.tables(tensors)).ref(SUBGRAPH_INPUTS, FbBuilder.ints(inputs))
                .ref(SUBGRAPH_OUTPUTS, FbBuilder.ints(outputs)).ref(SUBGRAPH_OPERATORS, FbBuilder.tables(ops))
                .ref(SUBGRAPH_NAME, FbBuilder.string("main"));
        Table model = FbBuilder.table().i32(MODEL_VERSION, 3).ref(MODEL_OPERATOR_CODES, FbBuilder.tables(codes))
                .ref(MODEL_SUBGRAPHS, FbBuilder.tables(List.of(subgraph))).ref(MODEL_DESCRIPTION, FbBuilder.string("test model"))
                .ref(MODEL_BUFFERS, FbBuilder.tables(bufs));
        return FbBuilder.finish(model, "TFL3");
    }

    TfliteModel model() {
        return TfliteModel.fromBytes(Path.of("tiny.tflite"), bytes());
    }

    // options tables
    static Table conv(int padding, int strideW, int strideH, int act) {
        return FbBuilder.table().i8(0, padding).i32(1, strideW).i32(2, strideH).i8(3, act);
    }

    static Table depthwise(int padding, int strideW, int strideH, int multiplier, int act) {
        return FbBuilder.table().i8(0, padding).i32(1, strideW).i32(2, strideH).i32(3, multiplier).i8(4, act);
    }

    static Table pool(int padding, int strideW, int strideH, int filterW, int filterH, int act) {
        return FbBuilder.table().i8(0, padding).i32(1, strideW).i32(2, strideH).i32(3, filterW).i32(4, filterH).i8(5, act);
    }
}
