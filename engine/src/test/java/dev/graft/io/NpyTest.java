package dev.graft.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.parity.Fixtures;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NpyTest {
    @TempDir
    Path dir;

    /** The values every NumPy-written fixture in fixtures/torch/npy holds (see the generator): i·0.5 − 3. */
    private static double base(int i) {
        return i * 0.5 - 3;
    }

    private static Path npy(String name) {
        return Fixtures.path("npy/" + name);
    }

    // ================================================================== files written by NumPy

    @ParameterizedTest
    @ValueSource(strings = {"f4_c.npy", "f4_big_endian.npy", "f2.npy", "f4_fortran.npy", "f4_v2.npy", "f4_v3.npy"})
    void readsFloatFilesWrittenByNumpy(String name) {
        Tensor t = Npy.read(npy(name));
        assertThat(t.dtype()).isEqualTo(DType.FLOAT32);
        assertThat(t.shape()).containsExactly(2, 3, 4);
        float[] v = t.toFloatArray();
        for (int i = 0; i < 24; i++) assertThat(v[i]).as("%s[%d]", name, i).isEqualTo((float) base(i));
        assertThat(t.get(1, 2, 3)).isEqualTo(base(23));
        assertThat(t.get(1, 0, 2)).isEqualTo(base(14)); // Fortran data must come out in C order too
    }

    @Test
    void float64IsKeptWhenAskedAndNarrowedOtherwise() {
        Tensor d = Npy.read(npy("f8.npy"), DType.FLOAT64);
        assertThat(d.dtype()).isEqualTo(DType.FLOAT64);
        double[] v = d.toDoubleArray();
        for (int i = 0; i < 24; i++) assertThat(v[i]).isEqualTo(base(i) + 1.0 / 3);
        assertThat(Npy.readArray(npy("f8.npy")).toTensor().dtype()).isEqualTo(DType.FLOAT64);
        Tensor f = Npy.read(npy("f8.npy"));
        assertThat(f.dtype()).isEqualTo(DType.FLOAT32);
        assertThat(f.toFloatArray()[5]).isEqualTo((float) (base(5) + 1.0 / 3));
    }

    @Test
    void integerAndBooleanFilesKeepTheirValues() {
        Npy.Array i8 = Npy.readArray(npy("i8.npy"));
        assertThat(i8.type().descr()).isEqualTo("<i8");
        assertThat(i8.shape()).containsExactly(2, 3, 4);
        long[] l = i8.toLongArray();
        for (int i = 0; i < 24; i++) assertThat(l[i]).isEqualTo(i - 5);
        assertThat(Npy.readArray(npy("i4.npy")).toIntArray()).startsWith(-5, -4, -3).endsWith(18);
        assertThat(Npy.read(npy("i4.npy")).toFloatArray()[0]).isEqualTo(-5f);
        Npy.Array u1 = Npy.readArray(npy("u1.npy"));
        assertThat(u1.type().kind()).isEqualTo(Npy.Kind.UNSIGNED);
        assertThat(u1.toIntArray()).startsWith(0, 1, 2).endsWith(23);
        int[] b = Npy.readArray(npy("b1.npy")).toIntArray();
        for (int i = 0; i < 24; i++) assertThat(b[i]).isEqualTo(i % 3 == 0 ? 1 : 0);
        assertThatThrownBy(() -> Npy.readArray(npy("f4_c.npy")).toIntArray())
                .isInstanceOf(GraftException.class).hasMessageContaining("f4_c.npy").hasMessageContaining("integer");
    }

    @Test
    void scalarAndEmptyArrays() {
        Tensor s = Npy.read(npy("scalar.npy"));
        assertThat(s.shape()).isEmpty();
        assertThat(s.item()).isEqualTo(2.5);
        Tensor e = Npy.read(npy("empty.npy"));
        assertThat(e.shape()).containsExactly(0, 3);
        assertThat(e.numel()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"stored.npz", "deflated.npz"})
    void readsNpzArchivesInEntryOrder(String name) {
        Map<String, Npy.Array> arrays = Npy.readNpzArrays(npy(name));
        assertThat(arrays.keySet()).containsExactly("zeta", "alpha", "mid");
        assertThat(arrays.get("alpha").toLongArray()).containsExactly(0, 1, 2, 3, 4);
        assertThat(arrays.get("mid").toTensor().dtype()).isEqualTo(DType.FLOAT64);
        Map<String, Tensor> tensors = Npy.readNpz(npy(name));
        assertThat(tensors.keySet()).containsExactly("zeta", "alpha", "mid");
        assertThat(tensors.get("zeta").toFloatArray()[23]).isEqualTo((float) base(23));
        assertThat(tensors.get("mid").dtype()).isEqualTo(DType.FLOAT32);
        assertThat(Npy.readNpz(npy(name), DType.FLOAT64).get("mid").toDoubleArray()[1]).isEqualTo(base(1) + 1.0 / 3);
    }

    // ================================================================== round trips

    @Test
    void roundTripKeepsBitsShapeAndType() {
        float[] v = {1.5f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.MIN_VALUE, -3.25e-20f};
        Tensor t = Tensor.of(v, 2, 3);
        Path f = dir.resolve("a.npy");
        Npy.write(f, t);
        Tensor back = Npy.read(f);
        assertThat(back.shape()).containsExactly(2, 3);
        assertThat(bits(back.toFloatArray())).isEqualTo(bits(v));

        double[] d = {Math.PI, -0.0, 1e-300, Double.NaN};
        Npy.write(f, Tensor.of(d, 4, 1, 1));  // overwrites atomically
        Tensor bd = Npy.read(f, DType.FLOAT64);
        assertThat(bd.shape()).containsExactly(4, 1, 1);
        assertThat(bd.toDoubleArray()).usingElementComparator((x, y) -> Long.compare(Double.doubleToRawLongBits(x), Double.doubleToRawLongBits(y)))
                .containsExactly(d);
        assertThat(Npy.readArray(f).type().descr()).isEqualTo("<f8");

        for (int[] shape : List.of(new int[0], new int[] {0}, new int[] {3, 0, 2}, new int[] {7}, new int[] {2, 3, 4, 5, 1})) {
            Tensor r = Tensor.uniform(new SplittableRandom(1), -1, 1, shape);
            Npy.write(f, r);
            Tensor rb = Npy.read(f);
            assertThat(rb.shape()).isEqualTo(shape);
            assertThat(rb.toFloatArray()).isEqualTo(r.toFloatArray());
        }
        assertThat(listDir()).containsExactly("a.npy"); // no temporary files left behind
    }

    @Test
    void writesNumpysHeaderLayout() {
        byte[] b = Npy.toBytes(Tensor.of(new float[6], 2, 3));
        assertThat(Arrays.copyOf(b, 8)).isEqualTo(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        int headerLen = (b[8] & 0xFF) | (b[9] & 0xFF) << 8;
        assertThat((10 + headerLen) % 64).isZero();
        String header = new String(b, 10, headerLen, StandardCharsets.ISO_8859_1);
        assertThat(header).startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }").endsWith("\n");
        assertThat(b.length).isEqualTo(10 + headerLen + 24);
        assertThat(new String(Npy.toBytes(Tensor.of(new float[3], 3)), StandardCharsets.ISO_8859_1)).contains("'shape': (3,)");
        assertThat(new String(Npy.toBytes(Tensor.scalar(1)), StandardCharsets.ISO_8859_1)).contains("'shape': ()");
    }

    @Test
    void npzRoundTripKeepsOrderAndTypes() {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("z.weight", Tensor.of(new float[] {1, 2, 3}, 3));
        in.put("a", Tensor.of(new double[] {0.1, 0.2}, 1, 2));
        in.put("m", Tensor.scalar(7));
        Path f = dir.resolve("s.npz");
        Npy.writeNpz(f, in);
        Map<String, Npy.Array> out = Npy.readNpzArrays(f);
        assertThat(out.keySet()).containsExactly("z.weight", "a", "m");
        assertThat(out.get("a").type().descr()).isEqualTo("<f8");
        assertThat(out.get("a").toDoubleArray()).containsExactly(0.1, 0.2);
        assertThat(out.get("m").shape()).isEmpty();
        assertThat(out.get("z.weight").toFloatArray()).containsExactly(1, 2, 3);
        assertThat(listDir()).containsExactly("s.npz");
    }

    @Test
    void writingIntoAMissingDirectoryFailsCleanly() {
        Path f = dir.resolve("nope/x.npy");
        assertOneLine(assertThatThrownBy(() -> Npy.write(f, Tensor.scalar(1))), f).hasMessageContaining("does not exist");
    }

    @Test
    void aFailedWriteLeavesTheOldFileIntactAndNoTemporaryFile() throws IOException {
        Path f = dir.resolve("keep.npz");
        Npy.writeNpz(f, Map.of("a", Tensor.of(new float[] {1, 2}, 2)));
        byte[] before = Files.readAllBytes(f);
        Map<String, Tensor> exploding = new AbstractMap<>() { // fails while the archive is half written
            @Override
            public Set<Map.Entry<String, Tensor>> entrySet() {
                Set<Map.Entry<String, Tensor>> s = new LinkedHashSet<>();
                s.add(Map.entry("ok", Tensor.scalar(1)));
                s.add(new AbstractMap.SimpleEntry<>("boom", Tensor.scalar(2)) {
                    @Override
                    public Tensor getValue() {
                        throw new IllegalStateException("boom");
                    }
                });
                return s;
            }
        };
        assertThatThrownBy(() -> Npy.writeNpz(f, exploding)).hasMessageContaining("boom");
        assertThat(Files.readAllBytes(f)).isEqualTo(before);
        assertThat(listDir()).containsExactly("keep.npz");
        assertThatThrownBy(() -> Npy.writeNpz(f, Map.of("", Tensor.scalar(2)))).isInstanceOf(GraftException.class).hasMessageContaining("empty array name");
        assertThat(Files.readAllBytes(f)).isEqualTo(before);
    }

    // ================================================================== hostile files

    @Test
    void missingFile() {
        Path f = dir.resolve("absent.npy");
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f).hasMessageContaining("no such file");
        Path z = dir.resolve("absent.npz");
        assertOneLine(assertThatThrownBy(() -> Npy.readNpz(z)), z).hasMessageContaining("no such file");
    }

    @Test
    void truncatedData() throws IOException {
        byte[] good = Files.readAllBytes(npy("f4_c.npy"));
        Path f = write("trunc.npy", Arrays.copyOf(good, good.length - 5));
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f)
                .hasMessageContaining("truncated").hasMessageContaining("(2, 3, 4)").hasMessageContaining("96 bytes");
        Path g = write("trunc_header.npy", Arrays.copyOf(good, 40));
        assertOneLine(assertThatThrownBy(() -> Npy.read(g)), g).hasMessageContaining("truncated");
        Path h = write("tiny.npy", Arrays.copyOf(good, 7));
        assertOneLine(assertThatThrownBy(() -> Npy.read(h)), h).hasMessageContaining("truncated");
    }

    @Test
    void trailingBytesAreRejected() throws IOException {
        byte[] good = Files.readAllBytes(npy("f4_c.npy"));
        Path f = write("long.npy", Arrays.copyOf(good, good.length + 4));
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f).hasMessageContaining("4 unexpected bytes");
    }

    @Test
    void lyingHeaderIsCaughtBeforeAllocating() {
        // claims 10^10 elements: refused without allocating
        Path huge = write("huge.npy", npyFile("<f4", "(100000, 100000)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(huge)), huge).hasMessageContaining("more than");
        // claims 2^93 elements: the count would overflow a long
        Path over = write("over.npy", npyFile("<f8", "(2147483000, 2147483000, 2147483000)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(over)), over).hasMessageContaining("more than");
        Path wide = write("wide.npy", npyFile("<f8", "(4294967296, 0)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(wide)), wide).hasMessageContaining("too large");
        // plausible count, but the bytes are not there (would allocate 4 GiB if trusted)
        Path big = write("big.npy", npyFile("<f8", "(500000000,)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(big)), big).hasMessageContaining("truncated").hasMessageContaining("4000000000 bytes");
        Path neg = write("neg.npy", npyFile("<f4", "(-1, 4)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(neg)), neg).hasMessageContaining("negative dimension");
        Path digits = write("digits.npy", npyFile("<f4", "(99999999999999999999999,)", new byte[16]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(digits)), digits).hasMessageContaining("too large");
    }

    @Test
    void headerLengthIsBounded() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0}).putInt(0x7FFF_FFF0);
        Path f = write("hdr.npy", b.array());
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f).hasMessageContaining("header length 2147483632 exceeds");
        ByteBuffer c = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        c.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) 1000);
        Path g = write("hdr2.npy", c.array());
        assertOneLine(assertThatThrownBy(() -> Npy.read(g)), g).hasMessageContaining("truncated");
    }

    @Test
    void badMagic() {
        Path f = write("bad.npy", "not numpy at all, just text".getBytes(StandardCharsets.US_ASCII));
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f).hasMessageContaining("bad magic");
        Path z = write("zip.npy", Fixtures.path("npy/stored.npz"));
        assertOneLine(assertThatThrownBy(() -> Npy.read(z)), z).hasMessageContaining(".npz");
        Path notZip = write("text.npz", "hello".getBytes(StandardCharsets.US_ASCII));
        assertOneLine(assertThatThrownBy(() -> Npy.readNpz(notZip)), notZip).hasMessageContaining("not a valid .npz");
    }

    @Test
    void unsupportedVersionsAndDtypes() {
        byte[] v4 = npyFile("<f4", "(1,)", new byte[4]);
        v4[6] = 4;
        Path f = write("v4.npy", v4);
        assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f).hasMessageContaining("version 4.0");
        Path obj = write("obj.npy", npyFile("|O", "(1,)", new byte[8]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(obj)), obj).hasMessageContaining("object arrays");
        Path cplx = write("c8.npy", npyFile("<c8", "(1,)", new byte[8]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(cplx)), cplx).hasMessageContaining("unsupported dtype '<c8'");
        Path rec = write("rec.npy", header("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", new byte[8]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(rec)), rec).hasMessageContaining("structured");
        Path u = write("str.npy", npyFile("<U3", "(1,)", new byte[12]));
        assertOneLine(assertThatThrownBy(() -> Npy.read(u)), u).hasMessageContaining("unsupported dtype");
    }

    @Test
    void malformedHeaders() {
        for (String h : List.of("{'descr': '<f4', 'shape': (1,), }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1, }",
                "{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,), }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,), }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ",
                "{'descr': '<f4\n', 'fortran_order': False, 'shape': (1,), }",
                "[" .repeat(5000),
                "{'descr': __import__('os').system('rm -rf /')}",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing")) {
            Path f = write("m.npy", header(h, new byte[4]));
            assertOneLine(assertThatThrownBy(() -> Npy.read(f)), f);
        }
    }

    @Test
    void hostileNpzEntries() throws IOException {
        byte[] good = Files.readAllBytes(npy("f4_c.npy"));
        Path f = dir.resolve("bad.npz");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(f))) {
            z.putNextEntry(new ZipEntry("ok.npy"));
            z.write(good);
            z.closeEntry();
            z.putNextEntry(new ZipEntry("cut.npy"));
            z.write(Arrays.copyOf(good, good.length - 8));
            z.closeEntry();
        }
        assertOneLine(assertThatThrownBy(() -> Npy.readNpz(f)), f).hasMessageContaining("entry 'cut.npy'").hasMessageContaining("truncated");

        // a stored entry whose recorded size lies about its contents
        byte[] data = Files.readAllBytes(npy("f4_c.npy"));
        Path g = dir.resolve("lie.npz");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(g))) {
            ZipEntry e = new ZipEntry("x.npy");
            e.setMethod(ZipEntry.STORED);
            e.setSize(data.length);
            e.setCompressedSize(data.length);
            CRC32 crc = new CRC32();
            crc.update(data);
            e.setCrc(crc.getValue());
            z.putNextEntry(e);
            z.write(data);
            z.closeEntry();
        }
        byte[] zip = Files.readAllBytes(g);
        flipInData(zip, data); // corrupt one data byte: the CRC check must catch it
        Files.write(g, zip);
        assertOneLine(assertThatThrownBy(() -> Npy.readNpz(g)), g).hasMessageContaining("CRC");
    }

    @ParameterizedTest
    @ValueSource(strings = {"f4_c.npy", "f4_v3.npy", "i8.npy", "f4_fortran.npy", "stored.npz", "deflated.npz"})
    void randomCorruptionGivesAResultOrAOneLineGraftException(String name) throws IOException {
        byte[] good = Files.readAllBytes(npy(name));
        boolean npz = name.endsWith(".npz");
        SplittableRandom rng = new SplittableRandom(name.hashCode());
        Path f = dir.resolve("fuzz" + (npz ? ".npz" : ".npy"));
        for (int iter = 0; iter < 400; iter++) {
            byte[] b = good.clone();
            switch (iter % 4) {
                case 0 -> b = Arrays.copyOf(b, rng.nextInt(b.length)); // truncate
                case 1 -> b[rng.nextInt(Math.min(b.length, 128))] = (byte) rng.nextInt(256); // header byte
                case 2 -> { for (int k = 0; k < 4; k++) b[rng.nextInt(b.length)] ^= (byte) (1 << rng.nextInt(8)); }
                default -> { // overwrite a shape digit with a random one
                    int at = new String(b, StandardCharsets.ISO_8859_1).indexOf("'shape': (");
                    if (at >= 0) b[at + 10 + rng.nextInt(3)] = (byte) ('0' + rng.nextInt(10));
                }
            }
            Files.write(f, b);
            try {
                if (npz) Npy.readNpzArrays(f);
                else Npy.readArray(f);
            } catch (GraftException e) {
                assertThat(e.getMessage()).contains(f.toString()).doesNotContain("\n");
                assertThat(e.getMessage().lines().count()).isEqualTo(1);
            }
        }
    }

    // ================================================================== helpers

    private static void flipInData(byte[] zip, byte[] data) {
        // find the stored payload (it follows the local header) and change its last byte
        outer:
        for (int i = 0; i + data.length <= zip.length; i++) {
            for (int j = 0; j < 16; j++) if (zip[i + j] != data[j]) continue outer;
            zip[i + data.length - 1] ^= 0x55;
            return;
        }
        throw new AssertionError("payload not found");
    }

    private static AbstractThrowableAssert<?, ? extends Throwable> assertOneLine(AbstractThrowableAssert<?, ? extends Throwable> t, Path file) {
        return t.isInstanceOf(GraftException.class)
                .hasMessageContaining(file.toString())
                .satisfies(e -> assertThat(e.getMessage()).as("one-line message").doesNotContain("\n").doesNotContain("\r"));
    }

    private Path write(String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private Path write(String name, Path from) {
        try {
            return write(name, Files.readAllBytes(from));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] npyFile(String descr, String shape, byte[] data) {
        return header("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", data);
    }

    /** A version-1.0 file with this header text (padded as NumPy does) followed by data. */
    private static byte[] header(String dict, byte[] data) {
        int total = 10 + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        String text = dict + " ".repeat(padded - total) + "\n";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (byte) (text.length() & 0xFF), (byte) (text.length() >> 8)});
        out.writeBytes(text.getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes(data);
        return out.toByteArray();
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    private List<String> listDir() {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
