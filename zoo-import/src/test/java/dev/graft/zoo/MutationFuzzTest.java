package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded mutation fuzzer over real small files: every mutant must either import or fail with an
 * {@link ImportException} (no other exception, no error, no hang). Iteration {@code i} of a run with
 * seed {@code s} uses {@code new Random(s * 1_000_003 + i)}, so a failure names what to replay. Each
 * target stops at its iteration count or its time budget, whichever comes first.
 */
class MutationFuzzTest {
    private static final long SEED = 20261129L;
    private static final long[] INTERESTING = {0, 1, -1, 0x7f, 0x80, 0xff, Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 31, 1L << 32,
            Long.MAX_VALUE, Long.MIN_VALUE, 1L << 62, 100L << 20};

    @TempDir
    Path dir;

    @FunctionalInterface
    interface Target {
        void run(byte[] mutant) throws Exception;
    }

    /** Runs {@code iterations} mutants of {@code seed} (or until {@code budgetMs}); returns how many ran and how many imported. */
    private static int[] fuzz(String name, byte[] seed, int iterations, long budgetMs, Target target) {
        long t0 = System.currentTimeMillis();
        int ok = 0, n = 0;
        for (; n < iterations && System.currentTimeMillis() - t0 < budgetMs; n++) {
            Random rnd = new Random(SEED * 1_000_003 + n);
            byte[] m = mutate(seed, rnd);
            try {
                target.run(m);
                ok++;
            } catch (ImportException e) {
                if (e.getMessage().contains("\n")) throw new AssertionError(name + " iteration " + n + ": multi-line message: " + e.getMessage());
            } catch (Throwable e) {
                throw new AssertionError(name + " iteration " + n + " (seed " + SEED + "): " + e, e);
            }
        }
        System.out.printf("[MutationFuzzTest] %-22s %5d mutants in %5d ms, %4d imported, the rest refused with ImportException%n", name, n,
                System.currentTimeMillis() - t0, ok);
        return new int[] {n, ok};
    }

    static byte[] mutate(byte[] seed, Random rnd) {
        byte[] b = seed.clone();
        int count = 1 + rnd.nextInt(4);
        for (int k = 0; k < count; k++) {
            if (b.length == 0) return b;
            int at = rnd.nextInt(b.length);
            switch (rnd.nextInt(8)) {
                case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[at] = (byte) INTERESTING[rnd.nextInt(6)];
                case 2 -> {
                    if (at + 8 <= b.length)
                        ByteBuffer.wrap(b, at, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(INTERESTING[rnd.nextInt(INTERESTING.length)]);
                }
                case 3 -> {
                    if (at + 4 <= b.length) ByteBuffer.wrap(b, at, 4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) INTERESTING[rnd.nextInt(INTERESTING.length)]);
                }
                case 4 -> b = Arrays.copyOf(b, at); // truncate
                case 5 -> { // insert random bytes
                    byte[] ins = new byte[1 + rnd.nextInt(16)];
                    rnd.nextBytes(ins);
                    byte[] c = new byte[b.length + ins.length];
                    System.arraycopy(b, 0, c, 0, at);
                    System.arraycopy(ins, 0, c, at, ins.length);
                    System.arraycopy(b, at, c, at + ins.length, b.length - at);
                    b = c;
                }
                case 6 -> { // delete a chunk
                    int len = Math.min(b.length - at, 1 + rnd.nextInt(16));
                    byte[] c = new byte[b.length - len];
                    System.arraycopy(b, 0, c, 0, at);
                    System.arraycopy(b, at + len, c, at, b.length - at - len);
                    b = c;
                }
                default -> { // copy a chunk over another place
                    int from = rnd.nextInt(b.length), len = Math.min(1 + rnd.nextInt(32), Math.min(b.length - from, b.length - at));
                    System.arraycopy(b.clone(), from, b, at, len);
                }
            }
        }
        return b;
    }

    /** Opens, reads every tensor and describes; checks what it got is consistent. */
    private static void exercise(ModelFile f) {
        f.tensors();
        f.describe();
        for (Map.Entry<String, Tensor> e : f.stateDict().entrySet()) {
            long numel = 1;
            for (int d : e.getValue().shape()) numel *= d;
            assertThat(e.getValue().toFloatArray()).hasSize((int) numel);
        }
    }

    @Test
    void safetensorsMutants() throws IOException {
        byte[] seed = Files.readAllBytes(ZooFixtures.path("small.safetensors"));
        Path p = dir.resolve("m.safetensors");
        int[] r = fuzz("small.safetensors", seed, 4000, 3000, m -> {
            Files.write(p, m);
            exercise(SafetensorsFile.read(p));
        });
        assertThat(r[0]).isGreaterThan(500);
    }

    private static final String[] NUMBERS = {"0", "1", "2", "-1", "7", "8", "4294967296", "2147483647", "9223372036854775807",
            "9223372036854775808", "-9223372036854775808", "18446744073709551616", "1e3", "1.5", "99999999999999999999", "\"3\"", "null"};

    /** Replaces 1–3 numbers of the JSON header (shapes, offsets) with edge values, keeping the header length consistent. */
    static byte[] mutateHeader(byte[] file, Random rnd) {
        long len = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(file, 8, (int) len, java.nio.charset.StandardCharsets.UTF_8);
        java.util.List<int[]> spans = new java.util.ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("-?\\d+").matcher(header);
        while (m.find()) spans.add(new int[] {m.start(), m.end()});
        for (int k = 1 + rnd.nextInt(3); k > 0; k--) {
            int[] sp = spans.get(rnd.nextInt(spans.size()));
            if (sp[1] > header.length()) continue;
            header = header.substring(0, sp[0]) + NUMBERS[rnd.nextInt(NUMBERS.length)] + header.substring(sp[1]);
        }
        byte[] h = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return TestFiles.safetensors(h.length, h, Arrays.copyOfRange(file, 8 + (int) len, file.length));
    }

    @Test
    void safetensorsHeaderNumberMutants() throws IOException {
        byte[] seed = Files.readAllBytes(ZooFixtures.path("small.safetensors"));
        Path p = dir.resolve("h.safetensors");
        long t0 = System.currentTimeMillis();
        int n = 0, ok = 0;
        for (; n < 3000 && System.currentTimeMillis() - t0 < 1500; n++) {
            byte[] m = mutateHeader(seed, new Random(SEED * 7 + n));
            try {
                Files.write(p, m);
                exercise(SafetensorsFile.read(p));
                ok++;
            } catch (ImportException e) {
                assertThat(e.getMessage()).doesNotContain("\n");
            } catch (Throwable e) {
                throw new AssertionError("header mutant " + n + ": " + e, e);
            }
        }
        System.out.printf("[MutationFuzzTest] %-22s %5d mutants in %5d ms, %4d imported, the rest refused with ImportException%n",
                "small.safetensors (header numbers)", n, System.currentTimeMillis() - t0, ok);
        assertThat(n).isGreaterThan(300);
    }

    @Test
    void pthZipMutants() throws IOException {
        byte[] seed = Files.readAllBytes(ZooFixtures.path("views.pth"));
        Path p = dir.resolve("m.pth");
        int[] r = fuzz("views.pth (zip bytes)", seed, 3000, 2500, m -> {
            Files.write(p, m);
            exercise(Pretrained.open(p));
        });
        assertThat(r[0]).isGreaterThan(300);
    }

    @Test
    void pthPickleMutants() throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (ZipFile z = new ZipFile(ZooFixtures.path("views.pth").toFile())) {
            for (ZipEntry e : java.util.Collections.list(z.entries())) entries.put(e.getName(), z.getInputStream(e).readAllBytes());
        }
        byte[] pickle = entries.get("views/data.pkl");
        Path p = dir.resolve("p.pth");
        int[] r = fuzz("views.pth (data.pkl)", pickle, 3000, 2500, m -> {
            Map<String, byte[]> mutated = new LinkedHashMap<>(entries);
            mutated.put("views/data.pkl", m);
            Files.write(p, TestFiles.zip(mutated));
            exercise(PthFile.read(p));
        });
        assertThat(r[0]).isGreaterThan(300);
    }

    @Test
    void unpicklerMutants() throws IOException {
        byte[] pickle = null;
        try (ZipFile z = new ZipFile(ZooFixtures.path("resnet18_wrapped.pth").toFile())) {
            for (ZipEntry e : java.util.Collections.list(z.entries())) if (e.getName().endsWith("/data.pkl")) pickle = z.getInputStream(e).readAllBytes();
        }
        assertThat(pickle).isNotNull();
        Path p = Path.of("fuzz.pth");
        int[] r = fuzz("resnet18_wrapped data.pkl", pickle, 20000, 2000, m -> Unpickler.load(p, m));
        assertThat(r[0]).isGreaterThan(1000);
    }
}
