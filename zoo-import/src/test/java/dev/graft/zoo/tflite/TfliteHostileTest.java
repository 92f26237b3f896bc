package dev.graft.zoo.tflite;

import static dev.graft.zoo.tflite.TfliteSchema.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.zoo.ImportException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Consumer;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged and hostile files: each fails quickly with a one-line ImportException naming the file and
 * the problem, never another exception, never a large allocation.
 */
@Timeout(20)
class TfliteHostileTest {
    static final String MODEL = "mobilenet_v1_0.25_128_quant.tflite";
    static final Path NAME = Path.of("hostile.tflite");

    static byte[] original() {
        try {
            return Files.readAllBytes(TestData.zoo(MODEL));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static AbstractThrowableAssert<?, ? extends Throwable> assertRejected(byte[] bytes, String... fragments) {
        var a = assertThatThrownBy(() -> {
            TfliteModel m = TfliteModel.fromBytes(NAME, bytes);
            m.graph();
        }).isInstanceOf(ImportException.class).hasMessageStartingWith("hostile.tflite: ");
        a.satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        for (String f : fragments) a.hasMessageContaining(f);
        return a;
    }

    /** A copy of the model with {@code patch} applied to a little-endian view of it. */
    static byte[] patched(Consumer<Patch> patch) {
        byte[] b = original();
        FlatBuffer fb = new FlatBuffer(NAME, ByteBuffer.wrap(b));
        patch.accept(new Patch(fb, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN)));
        return b;
    }

    record Patch(FlatBuffer fb, ByteBuffer out) {
        FlatBuffer.Table model() {
            return fb.root("model");
        }

        FlatBuffer.Table subgraph() {
            return model().getVector(MODEL_SUBGRAPHS, 4, "subgraphs").getTable(0, "subgraph");
        }

        FlatBuffer.Table tensor(int i) {
            return subgraph().getVector(SUBGRAPH_TENSORS, 4, "tensors").getTable(i, "tensor");
        }

        /** The first tensor with constant data and at least {@code rank} dimensions. */
        int weightTensor(int rank) {
            TfliteModel m = TfliteModel.fromBytes(NAME, fb.slice(0, fb.size(), "all").array());
            return m.tfliteTensors().stream().filter(t -> t.hasData() && t.shape().length >= rank).findFirst().orElseThrow().index();
        }
    }

    @Test
    void emptyFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("empty.tflite");
        Files.write(f, new byte[0]);
        assertThatThrownBy(() -> TfliteModel.read(f)).isInstanceOf(ImportException.class)
                .hasMessage("empty.tflite: file is 0 bytes, too short to be a TFLite model");
    }

    @Test
    void missingFile(@TempDir Path dir) {
        assertThatThrownBy(() -> TfliteModel.read(dir.resolve("nope.tflite"))).isInstanceOf(ImportException.class)
                .hasMessageStartingWith("nope.tflite: cannot read the file");
    }

    @Test
    void identification(@TempDir Path dir) throws IOException {
        assertThat(TfliteModel.isTflite(TestData.zoo(MODEL))).isTrue();
        Path f = dir.resolve("x.bin");
        Files.write(f, "PK\3\4TFL".getBytes());
        assertThat(TfliteModel.isTflite(f)).isFalse();
        assertThat(TfliteModel.isTflite(dir.resolve("missing"))).isFalse();
    }

    @Test
    void notATfliteFile() {
        byte[] b = "PK\3\4 this is a zip, not a flatbuffer".getBytes();
        assertRejected(b, "no 'TFL3' identifier at byte offset 4");
    }

    @Test
    void truncatedAtSeveralPoints() {
        byte[] full = original();
        // (the file ends in a zip of labels that the model does not reference: cutting only that is harmless)
        for (int len : new int[] {4, 8, 12, 64, 1000, full.length / 3, full.length / 2, 2 * full.length / 3}) {
            byte[] cut = java.util.Arrays.copyOf(full, len);
            assertThatThrownBy(() -> TfliteModel.fromBytes(NAME, cut).graph()).as("truncated to %d bytes", len)
                    .isInstanceOf(ImportException.class).hasMessageStartingWith("hostile.tflite: ");
        }
    }

    @Test
    void randomBytes() {
        Random rng = new Random(7);
        for (int i = 0; i < 200; i++) {
            byte[] b = new byte[8 + rng.nextInt(4096)];
            rng.nextBytes(b);
            b[4] = 'T';
            b[5] = 'F';
            b[6] = 'L';
            b[7] = '3';
            assertRejected(b);
        }
    }

    @Test
    void rootOffsetPastTheEnd() {
        byte[] b = patched(p -> p.out().putInt(0, 0x7FFFFFF0));
        assertRejected(b, "model: table at offset 2147483632", "lies outside the");
    }

    @Test
    void vtablePointingOutside() {
        byte[] b = patched(p -> p.out().putInt(p.subgraph().pos, -0x40000000));
        assertRejected(b, "subgraph", "vtable at offset", "lies outside");
    }

    @Test
    void vectorLengthOfTwoToThe31MinusOne() {
        byte[] b = patched(p -> p.out().putInt(p.tensor(3).getVector(TENSOR_SHAPE, 4, "shape").start - 4, Integer.MAX_VALUE));
        assertRejected(b, "tensor 3 shape: vector at offset", "claims 2147483647 elements of 4 bytes");
    }

    @Test
    void vectorLengthOfTwoToThe32MinusOne() {
        byte[] b = patched(p -> p.out().putInt(p.model().getVector(MODEL_BUFFERS, 4, "buffers").start - 4, -1));
        assertRejected(b, "buffers: vector at offset", "claims 4294967295 elements");
    }

    @Test
    void negativeDimension() {
        byte[] b = patched(p -> p.out().putInt(p.tensor(0).getVector(TENSOR_SHAPE, 4, "shape").start + 4, -5));
        assertRejected(b, "tensor 0", "with a negative dimension");
    }

    @Test
    void hugeShape() {
        byte[] b = patched(p -> {
            FlatBuffer.Vec s = p.tensor(0).getVector(TENSOR_SHAPE, 4, "shape");
            for (int i = 0; i < s.length; i++) p.out().putInt(s.start + 4 * i, 1 << 20);
        });
        assertRejected(b, "tensor 0", "more than 2^31-1 elements");
    }

    @Test
    void weightShapeThatDoesNotMatchItsBuffer() {
        byte[] b = patched(p -> p.out().putInt(p.tensor(p.weightTensor(4)).getVector(TENSOR_SHAPE, 4, "shape").start, 1 << 24));
        assertRejected(b, "bytes, buffer", "holds");
    }

    @Test
    void unknownTensorType() {
        byte[] b = patched(p -> p.out().put(p.tensor(p.weightTensor(4)).position(TENSOR_TYPE), (byte) 77));
        assertRejected(b, "has unknown tensor type 77");
    }

    @Test
    void bufferIndexOutOfRange() {
        byte[] b = patched(p -> p.out().putInt(p.tensor(p.weightTensor(4)).position(TENSOR_BUFFER), 123456));
        assertRejected(b, "refers to buffer 123456, the file has");
    }

    @Test
    void operatorInputOutOfRange() {
        byte[] b = patched(p -> {
            FlatBuffer.Table op = p.subgraph().getVector(SUBGRAPH_OPERATORS, 4, "ops").getTable(0, "op");
            p.out().putInt(op.getVector(OP_INPUTS, 4, "inputs").start, 99999);
        });
        assertRejected(b, "operator 0 (CONV_2D) input refers to tensor 99999");
    }

    @Test
    void unsupportedOperatorNamesTheOperator() {
        // turn the model's SOFTMAX operator code into RESIZE_BILINEAR (23)
        byte[] b = patched(p -> {
            var codes = p.model().getVector(MODEL_OPERATOR_CODES, 4, "codes");
            for (int i = 0; i < codes.length; i++) {
                FlatBuffer.Table c = codes.getTable(i, "code");
                int pos = c.position(OPCODE_DEPRECATED_BUILTIN);
                if (pos >= 0 && p.out().get(pos) == SOFTMAX) p.out().put(pos, (byte) 23);
                int pos2 = c.position(OPCODE_BUILTIN);
                if (pos2 >= 0 && p.out().getInt(pos2) == SOFTMAX) p.out().putInt(pos2, 23);
            }
        });
        TfliteModel m = TfliteModel.fromBytes(NAME, b);
        assertThat(m.operatorCounts()).containsKey("RESIZE_BILINEAR");
        assertThatThrownBy(m::graph).isInstanceOf(ImportException.class)
                .hasMessageMatching("hostile\\.tflite: operator \\d+ \\(RESIZE_BILINEAR -> '.*'\\): operator RESIZE_BILINEAR is not supported.*");
        assertThatThrownBy(m::stateDict).isInstanceOf(ImportException.class);
    }

    @Test
    void stringTensorWithAHugeShapeUsedAsWeightsAllocatesNothing() {
        // STRING data has no fixed size, so the reader cannot check it against the shape; the graph must refuse it by type
        TinyTflite t = new TinyTflite();
        int in = t.activation("x", 1, 4, 4, 3);
        int w = t.tensor("w", 5, new int[] {46340, 46340, 1, 1}, new byte[] {1, 2, 3, 4}, null);
        int out = t.activation("y", 1, 4, 4, 46340);
        t.op(CONV_2D, new int[] {in, w}, new int[] {out}, TinyTflite.conv(PADDING_VALID, 1, 1, 0));
        TfliteModel m = t.io(in, out).model();
        assertThatThrownBy(m::graph).isInstanceOf(ImportException.class)
                .hasMessage("tiny.tflite: operator 0 (CONV_2D -> 'y'): 'w' STRING [46340, 46340, 1, 1] has type STRING, which cannot be used as float weights");
    }

    @Test
    void wrongSchemaVersion() {
        byte[] b = patched(p -> p.out().putInt(p.model().position(MODEL_VERSION), 2));
        assertRejected(b, "TFLite schema version 2");
    }

    /** Every ImportException the reader throws is its own, one line; a wrapped foreign exception would be a reader bug. */
    static void checkOwnException(ImportException e) {
        assertThat(e.getMessage()).startsWith("hostile.tflite: ").doesNotContain("\n");
        Throwable c = e.getCause();
        if (c != null && !(c instanceof GraftException)) throw new AssertionError("reader bug surfaced as " + c, c);
    }
}
