package dev.graft.zoo.onnx;

import static dev.graft.zoo.onnx.OnnxBuilders.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ModelProto;
import dev.graft.zoo.onnx.proto.OnnxProto.StringStringEntryProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.assertj.core.api.AbstractStringAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged and hostile files: each must fail fast with a one-line ImportException that says what is wrong. */
class OnnxHostileTest {
    @TempDir
    Path dir;

    /** Reads (and converts) the file, expecting an ImportException; returns its message for further checks. */
    private AbstractStringAssert<?> fails(Path file) {
        long t0 = System.nanoTime();
        Throwable[] thrown = new Throwable[1];
        assertThatThrownBy(() -> OnnxModel.read(file).graph()).isInstanceOf(ImportException.class).satisfies(e -> thrown[0] = e);
        double ms = (System.nanoTime() - t0) / 1e6;
        String msg = thrown[0].getMessage();
        assertThat(msg).doesNotContain("\n").startsWith(file.getFileName() + ": ");
        assertThat(ms).as("time to reject %s", file.getFileName()).isLessThan(2000);
        return assertThat(msg);
    }

    private Path graph(String name, GraphProto.Builder g) {
        return write(dir, name, model(g.build(), 13));
    }

    @Test
    void theSmallModelItselfIsValid() throws Exception {
        OnnxModel m = OnnxModel.read(graph("ok.onnx", smallGraph()));
        assertThat(m.graph()).isPresent();
        assertThat(m.nodes()).extracting(n -> n.op()).containsExactly("pad", "conv2d", "relu", "globalavgpool", "flatten", "linear");
    }

    @Test
    void emptyFile() {
        fails(write(dir, "empty.onnx", new byte[0])).contains("empty file");
    }

    @Test
    void randomBytes() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int i = 0; i < 50; i++) {
            byte[] b = new byte[1 + rng.nextInt(4096)];
            rng.nextBytes(b);
            fails(write(dir, "random" + i + ".onnx", b));
        }
    }

    @Test
    void truncatedFile() {
        byte[] full = model(smallGraph().build(), 13).toByteArray();
        for (int cut : new int[] {1, 5, full.length / 3, full.length / 2, full.length - 1})
            fails(write(dir, "cut" + cut + ".onnx", Arrays.copyOf(full, cut)));
    }

    @Test
    void hugeLengthVarint() {
        // field 7 (graph), length-delimited, claiming 2^31 − 1 bytes, then 3 bytes
        fails(write(dir, "huge.onnx", new byte[] {0x08, 0x07, 0x3a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 1, 2, 3}))
                .contains("not a valid ONNX protobuf");
        // a 10-byte varint that overflows 64 bits
        fails(write(dir, "varint.onnx", new byte[] {0x08, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01}));
    }

    @Test
    void dimsOverflowing() {
        GraphProto.Builder g = smallGraph();
        g.setInitializer(0, g.getInitializer(0).toBuilder().clearDims().addDims(1L << 40).addDims(1L << 40).addDims(1L << 40));
        fails(graph("overflow.onnx", g)).contains("initializer 'w'").contains("1099511627776");
        g.setInitializer(0, g.getInitializer(0).toBuilder().clearDims().addDims(-4).addDims(3));
        fails(graph("negative.onnx", g)).contains("initializer 'w'").contains("-4");
    }

    @Test
    void rawDataTooShort() {
        GraphProto.Builder g = smallGraph();
        TensorProto w = g.getInitializer(0);
        g.setInitializer(0, w.toBuilder().setRawData(w.getRawData().substring(0, 100)));
        fails(graph("short.onnx", g)).contains("initializer 'w'").contains("needs 432 bytes").contains("holds 100");
    }

    @Test
    void typedDataCountMismatch() {
        GraphProto.Builder g = smallGraph();
        g.setInitializer(1, TensorProto.newBuilder().setName("b").setDataType(1).addDims(4).addFloatData(1).addFloatData(2).build());
        fails(graph("typed.onnx", g)).contains("initializer 'b'").contains("needs 4 values");
    }

    @Test
    void externalDataIsRefused() {
        GraphProto.Builder g = smallGraph();
        g.setInitializer(0, g.getInitializer(0).toBuilder().clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("../../etc/passwd")));
        fails(graph("external.onnx", g)).contains("initializer 'w'").contains("external file '../../etc/passwd'");
    }

    @Test
    void unknownOperator() {
        GraphProto.Builder g = smallGraph();
        g.setNode(1, node("FancyAct", "act7", new String[] {"c"}, "r"));
        fails(graph("unknown.onnx", g)).contains("node 'act7' (FancyAct)").contains("unsupported operator type 'FancyAct'");
    }

    @Test
    void stringTensorsAreNotNumbers() {
        GraphProto.Builder g = smallGraph();
        g.addInitializer(TensorProto.newBuilder().setName("names").setDataType(TensorProto.DataType.STRING_VALUE).addDims(2)
                .addStringData(ByteString.copyFromUtf8("a")).addStringData(ByteString.copyFromUtf8("b")));
        g.addInitializer(ints("idx", 0));
        g.addNode(node("Gather", "gather", new String[] {"names", "idx"}, "picked"));
        g.setNode(4, node("Gemm", "fc", new String[] {"f", "fc.w", "fc.b"}, "gemm", intAttr("transB", 1)));
        g.addNode(node("Reshape", "reshape", new String[] {"gemm", "picked"}, "out"));
        fails(graph("strings.onnx", g)).contains("node 'gather' (Gather)").contains("strings");
    }

    @Test
    void manyNodesWithOneNameImportInLinearTime() {
        GraphProto.Builder g = GraphProto.newBuilder().addInput(value("x", "N", 3, 4, 4)).addOutput(value("v30000"));
        String prev = "x";
        for (int i = 1; i <= 30000; i++) {
            g.addNode(node("Relu", "same", new String[] {prev}, "v" + i));
            prev = "v" + i;
        }
        long t0 = System.nanoTime();
        OnnxModel m = OnnxModel.read(graph("long.onnx", g));
        assertThat(m.nodes()).hasSize(30000);
        assertThat(m.nodes().get(29999).name()).isEqualTo("same_29999");
        assertThat((System.nanoTime() - t0) / 1e6).isLessThan(3000);
    }

    @Test
    void cycle() {
        GraphProto.Builder g = smallGraph();
        g.setNode(1, node("Add", "loop", new String[] {"c", "p"}, "r")); // p is computed from r
        fails(graph("cycle.onnx", g)).contains("cycle");
    }

    @Test
    void missingInput() {
        GraphProto.Builder g = smallGraph();
        g.setNode(1, node("Relu", "relu", new String[] {"nowhere"}, "r"));
        fails(graph("missing.onnx", g)).contains("node 'relu' (Relu)").contains("'nowhere'");
    }

    @Test
    void valueProducedTwice() {
        GraphProto.Builder g = smallGraph();
        g.addNode(node("Relu", "again", new String[] {"c"}, "r"));
        fails(graph("twice.onnx", g)).contains("'r'").contains("produced twice");
    }

    @Test
    void weightShapesThatDoNotFit() {
        GraphProto.Builder g = smallGraph();
        g.setInitializer(2, floats("fc.w", new SplittableRandom(1), 5, 6));
        fails(graph("gemm.onnx", g)).contains("node 'fc' (Gemm)").contains("[N, 4]").contains("6 features");
        g = smallGraph();
        g.setInitializer(1, floats("b", new SplittableRandom(1), 3));
        fails(graph("bias.onnx", g)).contains("node 'conv' (Conv)").contains("bias 'b'");
        g = smallGraph();
        g.setInput(0, value("x", "N", 5, 8, 8));
        fails(graph("channels.onnx", g)).contains("node 'conv' (Conv)").contains("needs 3 channels");
    }

    @Test
    void emptyWeightDimensionsAreRefusedBeforeAllocating() {
        GraphProto.Builder g = smallGraph();
        g.setInitializer(0, tensor("w", 1, ByteString.EMPTY, 1_000_000_000, 0, 3, 3));
        fails(graph("empty-weight.onnx", g)).contains("empty shape");
    }

    @Test
    void badAttributes() {
        GraphProto.Builder g = smallGraph();
        g.setNode(0, node("Conv", "conv", new String[] {"x", "w", "b"}, "c", intsAttr("strides", 0, 2)));
        fails(graph("stride.onnx", g)).contains("node 'conv' (Conv)").contains("'strides'");
        g.setNode(0, node("Conv", "conv", new String[] {"x", "w", "b"}, "c", intAttr("strides", 2)));
        fails(graph("stridetype.onnx", g)).contains("must be INTS");
        g.setNode(0, node("Conv", "conv", new String[] {"x", "w", "b"}, "c", intAttr("group", 7)));
        fails(graph("group.onnx", g)).contains("group 7");
    }

    @Test
    void structuralProblems() {
        fails(write(dir, "nograph.onnx", ModelProto.newBuilder().setIrVersion(7).build())).contains("no graph");
        fails(write(dir, "opset.onnx", model(smallGraph().build(), 99))).contains("opset 99");
        fails(write(dir, "noopset.onnx", model(smallGraph().build(), 13).toBuilder().clearOpsetImport().build())).contains("operator set");
        fails(graph("twoinputs.onnx", smallGraph().addInput(value("y", 1)))).contains("exactly one input");
        fails(graph("twooutputs.onnx", smallGraph().addOutput(value("r", 1)))).contains("exactly one output");
        GraphProto.Builder g = smallGraph();
        g.setNode(0, g.getNode(0).toBuilder().setDomain("com.microsoft").build());
        fails(graph("domain.onnx", g)).contains("com.microsoft");
    }

    @Test
    void deepNestingIsBounded() {
        // AttributeProto.g → GraphProto.node → NodeProto.attribute → … 2000 levels deep
        byte[] inner = new byte[0];
        for (int i = 0; i < 2000; i++) {
            inner = wrap(0x32, inner); // AttributeProto.g (field 6)
            inner = wrap(0x2a, inner); // NodeProto.attribute (field 5)
            inner = wrap(0x0a, inner); // GraphProto.node (field 1)
        }
        byte[] file = concat(new byte[] {0x08, 0x07}, wrap(0x3a, inner)); // ModelProto.graph (field 7)
        fails(write(dir, "deep.onnx", file)).contains("not a valid ONNX protobuf");
    }

    private static byte[] wrap(int tag, byte[] body) {
        byte[] len = varint(body.length);
        byte[] out = new byte[1 + len.length + body.length];
        out[0] = (byte) tag;
        System.arraycopy(len, 0, out, 1, len.length);
        System.arraycopy(body, 0, out, 1 + len.length, body.length);
        return out;
    }

    private static byte[] varint(long v) {
        byte[] b = new byte[10];
        int n = 0;
        while ((v & ~0x7fL) != 0) {
            b[n++] = (byte) ((v & 0x7f) | 0x80);
            v >>>= 7;
        }
        b[n++] = (byte) v;
        return Arrays.copyOf(b, n);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void directoryAndMissingFile() throws Exception {
        fails(dir.resolve("nope.onnx")).contains("not a regular file");
        Path sub = Files.createDirectory(dir.resolve("sub.onnx"));
        fails(sub).contains("not a regular file");
    }

    @Test
    void sizeLimit() {
        Path f = graph("ok.onnx", smallGraph());
        assertThatThrownBy(() -> OnnxModel.read(f, 100)).isInstanceOf(ImportException.class).hasMessageContaining("more than the limit of 100");
    }
}
