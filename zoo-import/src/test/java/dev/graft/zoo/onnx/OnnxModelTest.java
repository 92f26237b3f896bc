package dev.graft.zoo.onnx;

import static dev.graft.zoo.onnx.OnnxBuilders.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.autograd.Autograd;
import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.models.Preprocessing;
import dev.graft.nn.Conv2d;
import dev.graft.ops.Elementwise;
import dev.graft.ops.LinearAlgebra;
import dev.graft.ops.Pooling;
import dev.graft.ops.Views;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.TensorInfo;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ModelProto;
import dev.graft.zoo.onnx.proto.OnnxProto.StringStringEntryProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-built ONNX graphs (no PyTorch needed): operator semantics against Graft ops written out, and the ModelFile surface. */
class OnnxModelTest {
    @TempDir
    Path dir;

    private static final double EPS = 1e-5;

    private static Tensor t(TensorProto p, int... shape) {
        return Tensor.of(OnnxTensors.toFloats(p), shape);
    }

    private static void assertClose(Tensor a, Tensor b) {
        assertThat(a.shape()).containsExactly(b.shape());
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        for (int i = 0; i < x.length; i++) assertThat((double) x[i]).as("element %d", i).isCloseTo(y[i], org.assertj.core.data.Offset.offset(EPS));
    }

    private static Tensor forward(OnnxModel m, Tensor x) {
        try (var _ = Autograd.noGrad()) {
            return m.graph().orElseThrow().forward(x);
        }
    }

    @Test
    void convWithSameUpperPaddingReluPoolFlattenGemm() {
        GraphProto g = smallGraph().build();
        OnnxModel m = OnnxModel.read(write(dir, "small.onnx", model(g, 13)));
        Tensor x = Tensor.randn(new SplittableRandom(1), 2, 3, 8, 8);
        Conv2d conv = new Conv2d(3, 4, new int[] {3, 3}, new int[] {2, 2}, new int[] {0, 0}, new int[] {1, 1}, 1, true);
        Tensor expected;
        try (var _ = Autograd.noGrad()) {
            conv.weight().copyFrom(t(g.getInitializer(0), 4, 3, 3, 3));
            conv.bias().copyFrom(t(g.getInitializer(1), 4));
            // SAME_UPPER, stride 2, 8 → 4: one row and column of zeros at the bottom and right
            Tensor h = Elementwise.relu(conv.forward(Views.pad2d(x, 0, 1, 0, 1)));
            Tensor f = Views.flatten(Pooling.adaptiveAvgPool2d(h, 1, 1), 1, -1);
            expected = LinearAlgebra.linear(f, t(g.getInitializer(2), 5, 4), t(g.getInitializer(3), 5));
        }
        assertClose(forward(m, x), expected);
    }

    @Test
    void gemmWithoutTransposeAndAlphaBeta() {
        SplittableRandom rng = new SplittableRandom(2);
        GraphProto g = GraphProto.newBuilder().addInput(value("x", "N", 6)).addOutput(value("y", "N", 3))
                .addInitializer(floats("B", rng, 6, 3)).addInitializer(floats("C", rng, 3))
                .addNode(node("Gemm", "gemm", new String[] {"x", "B", "C"}, "y", floatAttr("alpha", 0.5f), floatAttr("beta", 2f))).build();
        OnnxModel m = OnnxModel.read(write(dir, "gemm.onnx", model(g, 13)));
        Tensor x = Tensor.randn(rng, 4, 6);
        Tensor expected = Elementwise.add(Elementwise.mul(LinearAlgebra.matmul(x, t(g.getInitializer(0), 6, 3)), 0.5),
                Elementwise.mul(t(g.getInitializer(1), 3), 2.0));
        assertClose(forward(m, x), expected);
        assertThat(m.stateDict()).containsOnlyKeys("gemm.weight", "gemm.bias");
        assertThat(m.stateDict().get("gemm.weight").shape()).containsExactly(3, 6);
    }

    @Test
    void clipBoundsAsAttributesBeforeOpset11AndAsInputsAfter() {
        Tensor x = Elementwise.mul(Tensor.randn(new SplittableRandom(3), 2, 3, 4, 4), 4.0);
        Tensor expected = Elementwise.rsub(2.0, Elementwise.relu(Elementwise.rsub(2.0, Elementwise.add(Elementwise.relu(Elementwise.add(x, 1.0)), -1.0))));
        GraphProto old = GraphProto.newBuilder().addInput(value("x", "N", 3, 4, 4)).addOutput(value("y"))
                .addNode(node("Clip", "clip", new String[] {"x"}, "y", floatAttr("min", -1f), floatAttr("max", 2f))).build();
        assertClose(forward(OnnxModel.read(write(dir, "clip9.onnx", model(old, 9))), x), expected);
        GraphProto now = GraphProto.newBuilder().addInput(value("x", "N", 3, 4, 4)).addOutput(value("y"))
                .addInitializer(TensorProto.newBuilder().setName("lo").setDataType(1).addFloatData(-1))
                .addInitializer(TensorProto.newBuilder().setName("hi").setDataType(1).addFloatData(2))
                .addNode(node("Clip", "clip", new String[] {"x", "lo", "hi"}, "y")).build();
        assertClose(forward(OnnxModel.read(write(dir, "clip13.onnx", model(now, 13))), x), expected);
        GraphProto six = now.toBuilder().setInitializer(0, TensorProto.newBuilder().setName("lo").setDataType(1).addFloatData(0))
                .setInitializer(1, TensorProto.newBuilder().setName("hi").setDataType(1).addFloatData(6)).build();
        OnnxModel relu6 = OnnxModel.read(write(dir, "relu6.onnx", model(six, 13)));
        assertThat(relu6.nodes()).extracting(n -> n.op()).containsExactly("relu6");
        assertClose(forward(relu6, x), Elementwise.relu6(x));
    }

    /** conv → ReduceMean(H, W) without keepdims → MatMul + Add: a global pooling and one Linear layer, so the classifier splits. */
    private GraphProto reduceMeanHead() {
        SplittableRandom rng = new SplittableRandom(4);
        return GraphProto.newBuilder().addInput(value("x", "N", 3, 6, 6)).addOutput(value("y", "N", 2))
                .addInitializer(floats("w", rng, 4, 3, 1, 1)).addInitializer(floats("W", rng, 4, 2)).addInitializer(floats("b", rng, 2))
                .addNode(node("Conv", "conv", new String[] {"x", "w"}, "c"))
                .addNode(node("ReduceMean", "mean", new String[] {"c"}, "m", intsAttr("axes", 2, 3), intAttr("keepdims", 0)))
                .addNode(node("MatMul", "mm", new String[] {"m", "W"}, "mm_out"))
                .addNode(node("Add", "head", new String[] {"mm_out", "b"}, "y")).build();
    }

    @Test
    void reduceMeanAndMatMulAddBecomePoolingAndLinear() {
        GraphProto g = reduceMeanHead();
        OnnxModel m = OnnxModel.read(write(dir, "mean.onnx", model(g, 13)));
        assertThat(m.nodes()).extracting(n -> n.op()).containsExactly("conv2d", "globalavgpool", "flatten", "linear");
        Tensor x = Tensor.randn(new SplittableRandom(5), 2, 3, 6, 6);
        Conv2d conv = new Conv2d(3, 4, new int[] {1, 1}, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}, 1, false);
        Tensor pooled;
        try (var _ = Autograd.noGrad()) {
            conv.weight().copyFrom(t(g.getInitializer(0), 4, 3, 1, 1));
            pooled = dev.graft.ops.Reductions.mean(conv.forward(x), new int[] {2, 3}, false);
        }
        Tensor expected = Elementwise.add(LinearAlgebra.matmul(pooled, t(g.getInitializer(1), 4, 2)), t(g.getInitializer(2), 2));
        assertClose(forward(m, x), expected);

        GraphClassifier cls = m.classifier();
        assertThat(cls.numFeatures()).isEqualTo(4);
        assertThat(cls.numClasses()).isEqualTo(2);
        assertThat(cls.architecture()).isEqualTo("mean");
        cls.eval();
        try (var _ = Autograd.noGrad()) {
            assertClose(cls.forward(x), expected);
        }
    }

    @Test
    void classifierNeedsAGlobalPooling() {
        OnnxModel m = OnnxModel.read(write(dir, "clip.onnx", model(GraphProto.newBuilder().addInput(value("x", "N", 3, 4, 4)).addOutput(value("y"))
                .addNode(node("Relu", "r", new String[] {"x"}, "y")).build(), 13)));
        assertThatThrownBy(m::classifier).isInstanceOf(ImportException.class).hasMessageStartingWith("clip.onnx: ").hasMessageContaining("global average pooling");
    }

    @Test
    void modelFileSurface() {
        ModelProto proto = model(smallGraph().build(), 13);
        OnnxModel m = OnnxModel.read(write(dir, "small.onnx", proto));
        assertThat(m.format()).isEqualTo("onnx");
        assertThat(m.path().getFileName().toString()).isEqualTo("small.onnx");
        assertThat(m.opset()).isEqualTo(13);
        assertThat(m.irVersion()).isEqualTo(7);
        assertThat(m.producer()).isEqualTo("graft-test 1");
        assertThat(m.tensors()).containsExactly(new TensorInfo("w", "F32", new int[] {4, 3, 3, 3}), new TensorInfo("b", "F32", new int[] {4}),
                new TensorInfo("fc.w", "F32", new int[] {5, 4}), new TensorInfo("fc.b", "F32", new int[] {5}));
        assertThat(m.stateDict()).containsOnlyKeys("conv.weight", "conv.bias", "fc.weight", "fc.bias");
        assertThat(m.preprocessing()).isEmpty();
        GraphModule g = m.graph().orElseThrow();
        assertThat(g.isTraining()).isFalse();
        assertThat(g.input()).isEqualTo("x");
        assertThat(m.graph().orElseThrow()).isNotSameAs(g);
        String d = m.describe();
        assertThat(d).contains("format: onnx", "ir version: 7, opset: 13", "producer: graft-test 1", "input: 'x' F32 [N, 3, 8, 8]",
                "output: 'out' F32 [N, 5]", "nodes: 5 (Conv 1, Flatten 1, Gemm 1, GlobalAveragePool 1, Relu 1)", "initializers: 4 tensors, 137 values",
                "graft graph: 6 nodes");
        assertThat(m.opCounts()).containsEntry("Conv", 1);
    }

    @Test
    void preprocessingFromMetadata() {
        ModelProto proto = model(smallGraph().build(), 13).toBuilder()
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.preprocessing.input_size").setValue("192"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.preprocessing.mean").setValue("0.5, 0.5, 0.5"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.preprocessing.std").setValue("[0.25, 0.25, 0.25]"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.preprocessing.resize").setValue("stretch")).build();
        OnnxModel m = OnnxModel.read(write(dir, "pre.onnx", proto));
        Preprocessing p = m.preprocessing().orElseThrow();
        assertThat(p.inputSize()).isEqualTo(192);
        assertThat(p.cropSize()).isEqualTo(192);
        assertThat(p.resizeSize()).isEqualTo(219);
        assertThat(p.mean()).containsExactly(0.5, 0.5, 0.5);
        assertThat(p.std()).containsExactly(0.25, 0.25, 0.25);
        assertThat(p.resize()).isEqualTo(Preprocessing.Resize.STRETCH);
        assertThat(m.metadata()).containsEntry("graft.preprocessing.input_size", "192");
        assertThat(m.describe()).contains("preprocessing: ");
        assertThat(m.classifier().preprocessing()).isEqualTo(p);

        ModelProto bad = proto.toBuilder().addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.preprocessing.std").setValue("1, 0, 1")).build();
        bad = bad.toBuilder().removeMetadataProps(2).build();
        Path f = write(dir, "bad.onnx", bad);
        assertThatThrownBy(() -> OnnxModel.read(f)).isInstanceOf(ImportException.class).hasMessageContaining("graft.preprocessing");
    }

    @Test
    void inputWithoutShapeInformationStillImportsSimpleChains() {
        SplittableRandom rng = new SplittableRandom(6);
        GraphProto g = GraphProto.newBuilder().addInput(dev.graft.zoo.onnx.proto.OnnxProto.ValueInfoProto.newBuilder().setName("x"))
                .addOutput(value("y")).addInitializer(floats("w", rng, 2, 3, 3, 3))
                .addNode(node("Conv", "conv", new String[] {"x", "w"}, "c", intsAttr("pads", 1, 1, 1, 1)))
                .addNode(node("MaxPool", "pool", new String[] {"c"}, "y", intsAttr("kernel_shape", 2, 2), intsAttr("strides", 2, 2))).build();
        OnnxModel m = OnnxModel.read(write(dir, "noshape.onnx", model(g, 13)));
        assertThat(forward(m, Tensor.randn(rng, 1, 3, 8, 8)).shape()).containsExactly(1, 2, 4, 4);
    }

    @Test
    void elementwiseShapeAndLayoutOps() {
        SplittableRandom rng = new SplittableRandom(8);
        TensorProto scale = floats("s", rng, 2, 1, 1);
        GraphProto g = GraphProto.newBuilder().addInput(value("x", "N", 2, 3, 4)).addOutput(value("y"))
                .addInitializer(scale).addInitializer(ints("axes", 1)).addInitializer(ints("pads", 0, 0, 1, 0, 0, 0, 0, 2))
                .addInitializer(TensorProto.newBuilder().setName("two").setDataType(1).addFloatData(2))
                .addNode(node("Unsqueeze", "u", new String[] {"x", "axes"}, "u"))
                .addNode(node("Squeeze", "sq", new String[] {"u", "axes"}, "sq"))
                .addNode(node("Transpose", "tr", new String[] {"sq"}, "tr", intsAttr("perm", 0, 1, 3, 2)))
                .addNode(node("Pad", "pad", new String[] {"tr", "pads"}, "pd"))
                .addNode(node("Mul", "mul", new String[] {"pd", "two"}, "m"))
                .addNode(node("Sub", "sub", new String[] {"m", "s"}, "d"))
                .addNode(node("Div", "div", new String[] {"d", "two"}, "v"))
                .addNode(node("Concat", "cat", new String[] {"v", "m"}, "c", intAttr("axis", 1)))
                .addNode(node("Softmax", "sm", new String[] {"c"}, "y", intAttr("axis", 1))).build();
        OnnxModel m = OnnxModel.read(write(dir, "misc.onnx", model(g, 13)));
        assertThat(m.nodes()).extracting(n -> n.op()).containsExactly("reshape", "reshape", "permute", "pad", "const", "mul", "const", "sub",
                "div", "concat", "softmax");
        Tensor x = Tensor.randn(rng, 2, 2, 3, 4);
        Tensor pd = Views.pad2d(Views.permute(x, 0, 1, 3, 2), 1, 0, 0, 2);
        Tensor mm = Elementwise.mul(pd, 2.0);
        Tensor v = Elementwise.mul(Elementwise.sub(mm, t(scale, 2, 1, 1)), 0.5);
        Tensor expected = dev.graft.ops.Reductions.softmax(dev.graft.ops.Concat.concat(java.util.List.of(v, mm), 1), 1);
        assertClose(forward(m, x), expected);
    }
}
