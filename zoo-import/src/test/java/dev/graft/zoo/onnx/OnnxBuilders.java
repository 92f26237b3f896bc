package dev.graft.zoo.onnx;

import com.google.protobuf.ByteString;
import dev.graft.zoo.onnx.proto.OnnxProto.AttributeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ModelProto;
import dev.graft.zoo.onnx.proto.OnnxProto.NodeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.OperatorSetIdProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorShapeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TypeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ValueInfoProto;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** Small ONNX models written with the generated protobuf builders, for tests that need no PyTorch. */
final class OnnxBuilders {
    private OnnxBuilders() {}

    static TensorProto floats(String name, SplittableRandom rng, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        ByteBuffer b = ByteBuffer.allocate((int) n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putFloat((float) (rng.nextDouble() - 0.5));
        return tensor(name, TensorProto.DataType.FLOAT_VALUE, ByteString.copyFrom(b.array()), dims);
    }

    static TensorProto ints(String name, long... values) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE).addDims(values.length);
        for (long v : values) t.addInt64Data(v);
        return t.build();
    }

    static TensorProto tensor(String name, int type, ByteString raw, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type).setRawData(raw);
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    static NodeProto node(String op, String name, String[] inputs, String output, AttributeProto... attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name).addOutput(output);
        for (String i : inputs) n.addInput(i);
        for (AttributeProto a : attrs) n.addAttribute(a);
        return n.build();
    }

    static AttributeProto intsAttr(String name, long... v) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) a.addInts(x);
        return a.build();
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static AttributeProto floatAttr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    static AttributeProto stringAttr(String name, String v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(v)).build();
    }

    static ValueInfoProto value(String name, Object... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            if (d instanceof String p) s.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(p));
            else s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    static ModelProto model(GraphProto graph, int opset) {
        return ModelProto.newBuilder().setIrVersion(7).setProducerName("graft-test").setProducerVersion("1")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(opset)).setGraph(graph).build();
    }

    /**
     * x (N, 3, 8, 8) → Conv 3→4 3×3 stride 2 SAME_UPPER (asymmetric pad) → Relu → GlobalAveragePool →
     * Flatten → Gemm (transB 1) → out (N, 5).
     */
    static GraphProto.Builder smallGraph() {
        SplittableRandom rng = new SplittableRandom(7);
        return GraphProto.newBuilder().setName("small")
                .addInitializer(floats("w", rng, 4, 3, 3, 3))
                .addInitializer(floats("b", rng, 4))
                .addInitializer(floats("fc.w", rng, 5, 4))
                .addInitializer(floats("fc.b", rng, 5))
                .addInput(value("x", "N", 3, 8, 8))
                .addOutput(value("out", "N", 5))
                .addNode(node("Conv", "conv", new String[] {"x", "w", "b"}, "c", intsAttr("strides", 2, 2), stringAttr("auto_pad", "SAME_UPPER")))
                .addNode(node("Relu", "relu", new String[] {"c"}, "r"))
                .addNode(node("GlobalAveragePool", "pool", new String[] {"r"}, "p"))
                .addNode(node("Flatten", "flat", new String[] {"p"}, "f", intAttr("axis", 1)))
                .addNode(node("Gemm", "fc", new String[] {"f", "fc.w", "fc.b"}, "out", intAttr("transB", 1)));
    }

    static Path write(Path dir, String name, ModelProto model) {
        return write(dir, name, model.toByteArray());
    }

    static Path write(Path dir, String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
