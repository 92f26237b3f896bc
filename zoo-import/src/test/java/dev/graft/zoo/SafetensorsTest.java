package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.io.Npy;
import dev.graft.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader and writer, including every kind of malformed header. */
class SafetensorsTest {
    @TempDir
    Path dir;

    private static AbstractThrowableAssert<?, ?> refused(Path file) {
        long t0 = System.nanoTime();
        var a = assertThatThrownBy(() -> SafetensorsFile.read(file).stateDict());
        assertThat((System.nanoTime() - t0) / 1e9).as("seconds to refuse " + file.getFileName()).isLessThan(2);
        return a.isInstanceOf(ImportException.class).hasMessageStartingWith(file.getFileName() + ": ").hasMessageNotContaining("\n");
    }

    private Path file(String name, String header, int dataBytes) {
        return TestFiles.write(dir, name, TestFiles.safetensors(header, new byte[dataBytes]));
    }

    @Test
    void readsEveryDtypeLikePyTorch() {
        SafetensorsFile f = SafetensorsFile.read(ZooFixtures.path("small.safetensors"));
        assertThat(f.metadata()).containsEntry("note", "fuzz seed");
        assertThat(f.tensors()).extracting(TensorInfo::dtype).containsExactlyInAnyOrder("F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL");
        Map<String, Tensor> sd = f.stateDict();
        Map<String, Tensor> expected = Npy.readNpz(ZooFixtures.path("small_expected.npz"));
        assertThat(sd.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
        for (String k : expected.keySet()) {
            assertThat(sd.get(k).shape()).as(k).containsExactly(expected.get(k).shape());
            assertThat(sd.get(k).toFloatArray()).as(k).isEqualTo(expected.get(k).toFloatArray());
        }
        assertThat(f.describe()).contains("8 tensors (4 floating point)").contains("n.i64 I64 [2]");
    }

    @Test
    void writerRoundTripsSortedPaddedWithMetadata() throws Exception {
        Map<String, Tensor> sd = new LinkedHashMap<>();
        sd.put("z.weight", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        sd.put("a.bias", Tensor.of(new float[] {-1.5f}, 1));
        sd.put("m.t", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).transpose(0, 1)); // non-contiguous
        sd.put("s", Tensor.of(new float[] {7}));
        Path out = dir.resolve("w.safetensors");
        Safetensors.write(out, sd, Map.of("format", "pt"));
        byte[] bytes = Files.readAllBytes(out);
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLen % 8).isZero();
        JsonNode header = new ObjectMapper().readTree(new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>();
        header.fieldNames().forEachRemaining(names::add);
        assertThat(names).containsExactly("__metadata__", "a.bias", "m.t", "s", "z.weight");
        assertThat(header.get("a.bias").get("data_offsets").toString()).isEqualTo("[0,4]");
        assertThat(bytes.length).isEqualTo(8 + headerLen + 4 * (1 + 6 + 1 + 6));
        SafetensorsFile back = Safetensors.read(out);
        assertThat(back.metadata()).containsExactly(Map.entry("format", "pt"));
        assertThat(back.stateDict().get("m.t").shape()).containsExactly(3, 2);
        assertThat(back.stateDict().get("m.t").toFloatArray()).containsExactly(1, 4, 2, 5, 3, 6);
        assertThat(back.stateDict().get("s").shape()).isEmpty();
        assertThat(back.stateDict().get("z.weight").toFloatArray()).containsExactly(1, 2, 3, 4, 5, 6);
        // overwrite atomically, leaving no temporary files
        Safetensors.write(out, Map.of("only", Tensor.of(new float[] {9}, 1)), Map.of());
        assertThat(Safetensors.read(out).stateDict()).containsOnlyKeys("only");
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("w.safetensors");
        }
    }

    @Test
    void writerRefusesReservedNamesAndMissingDirectory() {
        assertThatThrownBy(() -> Safetensors.write(dir.resolve("x.safetensors"), Map.of("__metadata__", Tensor.of(new float[] {1}, 1)), Map.of()))
                .hasMessageContaining("__metadata__");
        assertThatThrownBy(() -> Safetensors.write(dir.resolve("no/such/x.safetensors"), Map.of("a", Tensor.of(new float[] {1}, 1)), Map.of()))
                .hasMessageContaining("does not exist");
        assertThat(dir.resolve("x.safetensors")).doesNotExist();
    }

    @Test
    void emptyTruncatedAndBadHeaderLengths() {
        refused(TestFiles.write(dir, "empty.safetensors", new byte[0])).hasMessageContaining("empty file");
        refused(TestFiles.write(dir, "short.safetensors", new byte[] {1, 2, 3})).hasMessageContaining("truncated");
        refused(TestFiles.write(dir, "huge.safetensors", TestFiles.safetensors(1L << 62, "{}".getBytes(), new byte[0])))
                .hasMessageContaining("bad safetensors header length 4611686018427387904");
        refused(TestFiles.write(dir, "neg.safetensors", TestFiles.safetensors(-1, "{}".getBytes(), new byte[0])))
                .hasMessageContaining("bad safetensors header length 18446744073709551615");
        refused(TestFiles.write(dir, "past.safetensors", TestFiles.safetensors(1000, "{}".getBytes(), new byte[0])))
                .hasMessageContaining("bad safetensors header length 1000");
        refused(TestFiles.write(dir, "limit.safetensors", TestFiles.safetensors(200L << 20, "{}".getBytes(), new byte[0])))
                .hasMessageContaining("the limit is 104857600");
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        byte[] whole = TestFiles.safetensors(header, new byte[16]);
        refused(TestFiles.write(dir, "cut.safetensors", java.util.Arrays.copyOf(whole, whole.length - 1)))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("outside the 15-byte data region");
    }

    @Test
    void malformedEntriesNameTheTensor() {
        refused(file("past.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8))
                .hasMessageContaining("tensor 'w': data_offsets [0, 16] outside the 8-byte data region");
        refused(file("overlap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16))
                .hasMessageContaining("tensor 'b' bytes [8, 16) overlap tensor 'a' bytes [0, 16)");
        refused(file("overflow.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("overflows");
        refused(file("big.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("more than a Graft tensor holds");
        refused(file("negdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("negative dimension");
        refused(file("dtype.safetensors", "{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8))
                .hasMessageContaining("tensor 'w': unknown dtype 'C64'");
        refused(file("len.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("needs 12");
        refused(file("reversed.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16))
                .hasMessageContaining("tensor 'w'");
        refused(file("negoff.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16))
                .hasMessageContaining("tensor 'w'");
        refused(file("bigint.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 16))
                .hasMessageContaining("tensor 'w'");
        refused(file("floatdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("tensor 'w'");
        refused(file("noshape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4)).hasMessageContaining("tensor 'w'");
        refused(file("nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4)).hasMessageContaining("tensor 'w'");
        refused(file("entry.safetensors", "{\"w\":[1,2]}", 4)).hasMessageContaining("tensor 'w'");
    }

    @Test
    void malformedHeaders() {
        refused(file("json.safetensors", "{\"w\":{\"dtype\":", 4)).hasMessageContaining("not valid JSON");
        refused(file("array.safetensors", "[1,2,3]", 4)).hasMessageContaining("does not start with '{'");
        refused(file("trailing.safetensors", "{} {}", 4)).hasMessageContaining("not valid JSON");
        refused(file("dup.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)).hasMessageContaining("not valid JSON");
        refused(file("meta.safetensors", "{\"__metadata__\":{\"a\":1}}", 0)).hasMessageContaining("__metadata__");
        refused(TestFiles.write(dir, "utf8.safetensors", TestFiles.safetensors(4, new byte[] {'{', (byte) 0xff, (byte) 0xfe, '}'}, new byte[0])))
                .hasMessageContaining("UTF-8");
        String deep = "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}";
        refused(file("deep.safetensors", deep, 0));
    }

    @Test
    void emptyAndZeroSizedTensorsAreFine() {
        SafetensorsFile f = SafetensorsFile.read(file("zero.safetensors", "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}", 0));
        assertThat(f.stateDict().get("e").shape()).containsExactly(0, 3);
        assertThat(SafetensorsFile.read(file("none.safetensors", "{}", 0)).tensors()).isEmpty();
    }

    @Test
    void missingFile() {
        assertThatThrownBy(() -> SafetensorsFile.read(dir.resolve("nope.safetensors"))).isInstanceOf(ImportException.class)
                .hasMessage("nope.safetensors: no such file");
    }
}
