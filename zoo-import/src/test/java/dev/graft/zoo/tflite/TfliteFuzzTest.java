package dev.graft.zoo.tflite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.zoo.ImportException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Seeded mutation fuzzing of a real model: bit flips, overwritten words (with boundary values), copied
 * ranges and truncations, mostly in the FlatBuffer structure (not the weight bytes). Every outcome must
 * be a successful read (then the graph builds or fails with an ImportException) or an ImportException:
 * never another exception type, never an out-of-memory error, never a hang.
 */
class TfliteFuzzTest {
    private static final int[] INTERESTING = {0, 1, -1, 2, 4, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, Integer.MAX_VALUE, Integer.MIN_VALUE,
            0x10000, 0x7FFFFFF0, -4, -8};

    @Test
    @Timeout(60)
    void mutatedModelsFailOnlyWithImportException() {
        byte[] original = TfliteHostileTest.original();
        TfliteModel base = TfliteModel.fromBytes(TfliteHostileTest.NAME, original);
        // the bytes outside the weight buffers: tables, vtables, vectors, strings
        BitSet data = new BitSet(original.length);
        for (TfliteTensor t : base.tfliteTensors())
            if (t.hasData()) {
                ByteBuffer d = base.data(t);
                data.set(d.arrayOffset(), d.arrayOffset() + d.remaining());
            }
        List<Integer> structure = new ArrayList<>();
        for (int i = data.nextClearBit(0); i < original.length; i = data.nextClearBit(i + 1)) structure.add(i);

        Random rng = new Random(20261129L);
        int iterations = 0, read = 0, built = 0, rejected = 0;
        long start = System.nanoTime(), budget = 10_000_000_000L;
        byte[] b = new byte[original.length];
        while (iterations < 5000 && System.nanoTime() - start < budget) {
            System.arraycopy(original, 0, b, 0, original.length);
            int length = mutate(rng, b, structure);
            byte[] input = length == b.length ? b : java.util.Arrays.copyOf(b, length);
            iterations++;
            try {
                TfliteModel m = TfliteModel.fromBytes(TfliteHostileTest.NAME, input);
                read++;
                m.tensors();
                m.describe();
                m.preprocessing();
                if (iterations % 10 == 0) {
                    m.graph();
                    built++;
                }
            } catch (ImportException e) {
                rejected++;
                TfliteHostileTest.checkOwnException(e);
            } catch (Throwable t) {
                throw new AssertionError("iteration " + iterations + ": " + t, t);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("fuzz: %d iterations in %.1f s: %d read (%d graphs built), %d rejected%n", iterations, seconds, read, built, rejected);
        assertThat(iterations).isGreaterThanOrEqualTo(500);
        assertThat(rejected).isPositive();
        assertThat(read).isPositive();
    }

    /** Applies 1–4 random mutations; returns the (possibly truncated) length. */
    private static int mutate(Random rng, byte[] b, List<Integer> structure) {
        int length = b.length;
        int n = 1 + rng.nextInt(4);
        ByteBuffer le = ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int k = 0; k < n; k++) {
            int pos = rng.nextInt(10) < 8 ? structure.get(rng.nextInt(structure.size())) : rng.nextInt(length);
            switch (rng.nextInt(6)) {
                case 0 -> b[pos] ^= (byte) (1 << rng.nextInt(8));
                case 1 -> b[pos] = (byte) rng.nextInt(256);
                case 2 -> {
                    if (pos + 4 <= length) le.putInt(pos & ~3, INTERESTING[rng.nextInt(INTERESTING.length)]);
                }
                case 3 -> {
                    if (pos + 2 <= length) le.putShort(pos & ~1, (short) INTERESTING[rng.nextInt(INTERESTING.length)]);
                }
                case 4 -> {
                    int src = structure.get(rng.nextInt(structure.size())), len = 1 + rng.nextInt(16);
                    if (src + len <= length && pos + len <= length) System.arraycopy(b, src, b, pos, len);
                }
                default -> length = Math.max(0, Math.min(length, rng.nextInt(10) < 7 ? structure.get(rng.nextInt(structure.size())) : rng.nextInt(length)));
            }
        }
        return length;
    }
}
