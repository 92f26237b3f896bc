package dev.graft.zoo.onnx;

import static dev.graft.zoo.onnx.OnnxBuilders.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.onnx.proto.OnnxProto.AttributeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.GraphProto;
import dev.graft.zoo.onnx.proto.OnnxProto.ModelProto;
import dev.graft.zoo.onnx.proto.OnnxProto.NodeProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutation fuzzing of the importer: byte-level mutations (flips, inserts, deletes, copied
 * chunks, planted huge varints, truncation) and structure-level ones (through the protobuf builders:
 * other op types, rewired inputs, extreme attribute values, bogus dims and data) of small real models.
 * Reading, building the graph and its state dict may only succeed or throw a one-line
 * {@link ImportException}; anything else (a NullPointerException, an index error, an OutOfMemoryError)
 * fails the test with the seed and iteration that reproduce it.
 */
class OnnxFuzzTest {
    /** The seed; {@code -Dgraft.onnx.fuzz.seed=S} explores others. */
    private static final long SEED = Long.getLong("graft.onnx.fuzz.seed", 20251129L);
    /** Iterations of each kind; {@code -Dgraft.onnx.fuzz.iterations=N} (passed to the test JVM) runs more. */
    private static final int ITERATIONS = Integer.getInteger("graft.onnx.fuzz.iterations", 4000);
    private static final long[] INTERESTING = {0, 1, -1, 2, 3, 7, 64, 255, 1 << 16, Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 31, 1L << 40,
            Long.MAX_VALUE, Long.MIN_VALUE};

    @TempDir
    Path dir;

    private int ok, rejected;

    private List<ModelProto> corpus() throws Exception {
        List<ModelProto> seeds = new ArrayList<>();
        seeds.add(model(smallGraph().build(), 13));
        seeds.add(model(smallGraph().build(), 9));
        Path tiny = OnnxFixtures.DIR.resolve("tiny.onnx");
        try {
            tiny = OnnxFixtures.model("tiny");
        } catch (org.opentest4j.TestAbortedException e) {
            System.out.println("[OnnxFuzzTest] no exported fixtures; fuzzing the hand-built models only");
        }
        if (Files.isRegularFile(tiny)) seeds.add(ModelProto.parseFrom(Files.readAllBytes(tiny)));
        return seeds;
    }

    private void attempt(byte[] bytes, String what) {
        Path f = write(dir, "fuzz.onnx", bytes);
        try {
            OnnxModel m = OnnxModel.read(f);
            m.describe();
            m.tensors();
            m.graph().orElseThrow();
            ok++;
        } catch (ImportException e) {
            assertThat(e.getMessage()).as(what).doesNotContain("\n").startsWith("fuzz.onnx: ");
            rejected++;
        } catch (Throwable t) {
            throw new AssertionError(what + ": " + t, t);
        }
    }

    @Test
    void byteMutations() throws Exception {
        long t0 = System.nanoTime();
        List<ModelProto> seeds = corpus();
        SplittableRandom rng = new SplittableRandom(SEED);
        for (int it = 0; it < ITERATIONS; it++) {
            int s = it % seeds.size();
            byte[] b = seeds.get(s).toByteArray();
            int edits = 1 + rng.nextInt(4);
            for (int e = 0; e < edits; e++) b = mutateBytes(b, rng);
            attempt(b, "byte mutation seed " + SEED + " iteration " + it + " (corpus " + s + ")");
        }
        report("byte", t0);
    }

    @Test
    void structureMutations() throws Exception {
        long t0 = System.nanoTime();
        List<ModelProto> seeds = corpus();
        SplittableRandom rng = new SplittableRandom(SEED + 1);
        for (int it = 0; it < ITERATIONS; it++) {
            int s = it % seeds.size();
            ModelProto.Builder m = seeds.get(s).toBuilder();
            int edits = 1 + rng.nextInt(3);
            for (int e = 0; e < edits; e++) mutateStructure(m, rng);
            attempt(m.build().toByteArray(), "structure mutation seed " + (SEED + 1) + " iteration " + it + " (corpus " + s + ")");
        }
        report("structure", t0);
        assertThat(ok).as("some mutants still import").isPositive();
    }

    private void report(String kind, long t0) {
        System.out.printf("[OnnxFuzzTest] %s mutations: %d imported, %d rejected with ImportException, %.1f s%n", kind, ok, rejected,
                (System.nanoTime() - t0) / 1e9);
    }

    private static byte[] mutateBytes(byte[] b, SplittableRandom rng) {
        if (b.length == 0) return new byte[] {(byte) rng.nextInt(256)};
        int at = rng.nextInt(b.length);
        switch (rng.nextInt(7)) {
            case 0 -> b[at] ^= (byte) (1 << rng.nextInt(8));
            case 1 -> b[at] = (byte) rng.nextInt(256);
            case 2 -> { // delete a chunk
                int len = Math.min(b.length - at, 1 + rng.nextInt(16));
                byte[] out = new byte[b.length - len];
                System.arraycopy(b, 0, out, 0, at);
                System.arraycopy(b, at + len, out, at, b.length - at - len);
                return out;
            }
            case 3 -> { // insert random bytes
                int len = 1 + rng.nextInt(8);
                byte[] out = new byte[b.length + len];
                System.arraycopy(b, 0, out, 0, at);
                for (int i = 0; i < len; i++) out[at + i] = (byte) rng.nextInt(256);
                System.arraycopy(b, at, out, at + len, b.length - at);
                return out;
            }
            case 4 -> { // plant a huge varint
                byte[] v = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f};
                for (int i = 0; i < v.length && at + i < b.length; i++) b[at + i] = v[i];
            }
            case 5 -> { // copy a chunk elsewhere
                int len = Math.min(b.length - at, 1 + rng.nextInt(64));
                int to = rng.nextInt(b.length);
                System.arraycopy(b, at, b, to, Math.min(len, b.length - to));
            }
            default -> {
                return java.util.Arrays.copyOf(b, at);
            }
        }
        return b;
    }

    private static long interesting(SplittableRandom rng) {
        return rng.nextBoolean() ? INTERESTING[rng.nextInt(INTERESTING.length)] : rng.nextLong(-3, 20);
    }

    private static void mutateStructure(ModelProto.Builder m, SplittableRandom rng) {
        GraphProto.Builder g = m.getGraphBuilder();
        List<String> names = new ArrayList<>();
        for (NodeProto n : g.getNodeList()) names.addAll(n.getOutputList());
        for (TensorProto t : g.getInitializerList()) names.add(t.getName());
        names.add(g.getInput(0).getName());
        names.add("");
        names.add("undefined");
        List<String> ops = new ArrayList<>(OnnxGraphConverter.SUPPORTED);
        ops.sort(null);
        ops.add("Loop");
        switch (rng.nextInt(10)) {
            case 0 -> { // another op type
                if (g.getNodeCount() == 0) return;
                int i = rng.nextInt(g.getNodeCount());
                g.setNode(i, g.getNode(i).toBuilder().setOpType(ops.get(rng.nextInt(ops.size()))));
            }
            case 1 -> { // rewire an input
                if (g.getNodeCount() == 0) return;
                int i = rng.nextInt(g.getNodeCount());
                NodeProto.Builder n = g.getNode(i).toBuilder();
                String v = names.get(rng.nextInt(names.size()));
                if (n.getInputCount() > 0 && rng.nextBoolean()) n.setInput(rng.nextInt(n.getInputCount()), v);
                else n.addInput(v);
                g.setNode(i, n);
            }
            case 2 -> { // extreme attribute values
                if (g.getNodeCount() == 0) return;
                int i = rng.nextInt(g.getNodeCount());
                String[] keys = {"axis", "group", "strides", "pads", "kernel_shape", "dilations", "transB", "alpha", "perm", "axes",
                        "keepdims", "ceil_mode", "auto_pad", "to", "min", "max", "epsilon", "shape", "value"};
                String key = keys[rng.nextInt(keys.length)];
                AttributeProto.Builder a = AttributeProto.newBuilder().setName(key);
                switch (rng.nextInt(5)) {
                    case 0 -> a.setType(AttributeProto.AttributeType.INT).setI(interesting(rng));
                    case 1 -> {
                        a.setType(AttributeProto.AttributeType.INTS);
                        int len = rng.nextInt(9);
                        for (int k = 0; k < len; k++) a.addInts(interesting(rng));
                    }
                    case 2 -> a.setType(AttributeProto.AttributeType.FLOAT).setF((float) (rng.nextDouble(-10, 10)));
                    case 3 -> a.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(
                            new String[] {"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "reflect", ""}[rng.nextInt(6)]));
                    default -> a.setType(AttributeProto.AttributeType.TENSOR).setT(ints("v", interesting(rng), interesting(rng)));
                }
                NodeProto.Builder n = g.getNode(i).toBuilder();
                for (int k = n.getAttributeCount() - 1; k >= 0; k--) if (n.getAttribute(k).getName().equals(key)) n.removeAttribute(k);
                n.addAttribute(a);
                g.setNode(i, n);
            }
            case 3 -> { // bogus dims
                if (g.getInitializerCount() == 0) return;
                int i = rng.nextInt(g.getInitializerCount());
                TensorProto.Builder t = g.getInitializer(i).toBuilder();
                if (t.getDimsCount() > 0 && rng.nextBoolean()) t.setDims(rng.nextInt(t.getDimsCount()), interesting(rng));
                else t.addDims(interesting(rng));
                g.setInitializer(i, t);
            }
            case 4 -> { // data cut or retyped
                if (g.getInitializerCount() == 0) return;
                int i = rng.nextInt(g.getInitializerCount());
                TensorProto.Builder t = g.getInitializer(i).toBuilder();
                if (rng.nextBoolean()) t.setRawData(t.getRawData().substring(0, rng.nextInt(t.getRawData().size() + 1)));
                else t.setDataType(rng.nextInt(18));
                g.setInitializer(i, t);
            }
            case 5 -> { // remove a node or an initializer
                if (rng.nextBoolean() && g.getNodeCount() > 0) g.removeNode(rng.nextInt(g.getNodeCount()));
                else if (g.getInitializerCount() > 0) g.removeInitializer(rng.nextInt(g.getInitializerCount()));
            }
            case 6 -> { // duplicate a node (its output is then produced twice) or swap two nodes
                if (g.getNodeCount() < 2) return;
                int i = rng.nextInt(g.getNodeCount()), j = rng.nextInt(g.getNodeCount());
                if (rng.nextBoolean()) g.addNode(g.getNode(i));
                else {
                    NodeProto a = g.getNode(i);
                    g.setNode(i, g.getNode(j));
                    g.setNode(j, a);
                }
            }
            case 7 -> m.setOpsetImport(0, m.getOpsetImport(0).toBuilder().setVersion(rng.nextInt(4, 24)));
            case 8 -> { // input shape
                var in = g.getInput(0).toBuilder();
                var shape = in.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder();
                if (shape.getDimCount() > 0 && rng.nextBoolean())
                    shape.setDim(rng.nextInt(shape.getDimCount()), shape.getDim(0).toBuilder().setDimValue(interesting(rng)));
                else if (shape.getDimCount() > 0) shape.removeDim(rng.nextInt(shape.getDimCount()));
                g.setInput(0, in);
            }
            default -> { // output rewired
                String v = names.get(rng.nextInt(names.size()));
                g.setOutput(0, g.getOutput(0).toBuilder().setName(v));
            }
        }
    }
}
