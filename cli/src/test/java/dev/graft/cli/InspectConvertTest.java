package dev.graft.cli;

import static dev.graft.cli.ClassifyCommandTest.assertOneLineError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.graft.cli.MainTest.Result;
import dev.graft.zoo.ModelFile;
import dev.graft.zoo.Pretrained;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code graft inspect} and {@code graft convert}, including hostile files. */
class InspectConvertTest {
    @Test
    void convertTfliteToSafetensorsThenInspectIt(@TempDir Path tmp) {
        Path tflite = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Path out = tmp.resolve("m.safetensors");
        Result r = MainTest.run("convert", tflite.toString(), out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("wrote", "tensors");

        ModelFile source = Pretrained.open(tflite), converted = Pretrained.open(out);
        assertThat(converted.format()).isEqualTo("safetensors");
        assertThat(converted.stateDict().keySet()).containsExactlyInAnyOrderElementsOf(source.stateDict().keySet());
        source.stateDict().forEach((k, v) -> assertThat(converted.stateDict().get(k).toFloatArray()).as(k).containsExactly(v.toFloatArray()));

        Result inspect = MainTest.run("inspect", out.toString());
        assertThat(inspect.code()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("safetensors", "graft.source=mobilenet_v1_0.25_128_quant.tflite", "graft.source_format=tflite", "format=pt", "F32");
    }

    @Test
    void inspectDescribesAGraphFile() {
        Path tflite = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        Result r = MainTest.run("inspect", tflite.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("tflite", "CONV_2D", "SOFTMAX");
    }

    @Test
    void convertRefusesOtherExtensionsAndLeavesNothingBehind(@TempDir Path tmp) throws IOException {
        Path tflite = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        assertOneLineError(MainTest.run("convert", tflite.toString(), tmp.resolve("m.pth").toString()), 1, ".safetensors");
        Path bad = Files.write(tmp.resolve("bad.pth"), new byte[] {'P', 'K', 3, 4, 0, 0});
        assertOneLineError(MainTest.run("convert", bad.toString(), tmp.resolve("o.safetensors").toString()), 1, "bad.pth");
        assertOneLineError(MainTest.run("convert", tmp.resolve("none.onnx").toString(), tmp.resolve("o.safetensors").toString()), 1, "none.onnx");
        try (var files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("bad.pth");
        }
    }

    @Test
    void hostileFilesGiveOneLineAndExitOne(@TempDir Path tmp) throws IOException {
        byte[] random = new byte[4096];
        new Random(42).nextBytes(random);
        byte[] hugeHeader = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 62).put((byte) '{').put((byte) '}').array();
        Path zoo = TestData.zoo("mobilenet_v1_0.25_128_quant.tflite");
        byte[] tflite = Files.readAllBytes(zoo);
        Path[] files = {
                Files.write(tmp.resolve("empty.safetensors"), new byte[0]),
                Files.write(tmp.resolve("x.pth"), random),
                Files.write(tmp.resolve("x.onnx"), random),
                Files.write(tmp.resolve("x.tflite"), random),
                Files.write(tmp.resolve("x.safetensors"), random),
                Files.write(tmp.resolve("huge.safetensors"), hugeHeader),
                Files.write(tmp.resolve("truncated.tflite"), Arrays.copyOf(tflite, tflite.length / 3)),
                Files.write(tmp.resolve("head.tflite"), Arrays.copyOf(tflite, 64)),
                Files.write(tmp.resolve("evil.pth"), evilCheckpoint()),
                tmp.resolve("missing.pth"),
        };
        for (Path f : files) {
            Result r = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> MainTest.run("inspect", f.toString()), f.toString());
            assertThat(r.out()).as(f.toString()).isEmpty();
            assertOneLineError(r, 1, f.getFileName().toString());
            assertThat(r.err()).doesNotContain("\n  at ", "internal error");
        }
        assertThat(Files.exists(tmp.resolve("pwned"))).isFalse();
    }

    /** A PyTorch-style zip whose archive/data.pkl calls os.system("touch pwned") when unpickled naively. */
    private static byte[] evilCheckpoint() throws IOException {
        ByteArrayOutputStream pkl = new ByteArrayOutputStream();
        pkl.write(new byte[] {(byte) 0x80, 2}); // PROTO 2
        pkl.writeBytes("cos\nsystem\n".getBytes(StandardCharsets.US_ASCII)); // GLOBAL os.system
        byte[] arg = "touch pwned".getBytes(StandardCharsets.US_ASCII);
        pkl.write('U'); // SHORT_BINSTRING
        pkl.write(arg.length);
        pkl.writeBytes(arg);
        pkl.write(0x85); // TUPLE1
        pkl.write('R'); // REDUCE
        pkl.write('.'); // STOP
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            z.putNextEntry(new ZipEntry("archive/data.pkl"));
            z.write(pkl.toByteArray());
            z.closeEntry();
        }
        return zip.toByteArray();
    }
}
