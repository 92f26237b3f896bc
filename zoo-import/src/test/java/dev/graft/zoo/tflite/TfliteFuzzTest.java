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

    /** A small model that uses most converted operators, so mutations reach every conversion path. */
    static byte[] kitchenSink() {
        Random r = new Random(3);
        TinyTflite t = new TinyTflite();
        int x = t.activation("x", 1, 4, 4, 2);
        int cw = t.floats("cw", new int[] {3, 3, 3, 2}, rand(r, 54)), cb = t.floats("cb", new int[] {3}, rand(r, 3));
        int c = t.activation("c", 1, 4, 4, 3);
        t.op(TfliteSchema.CONV_2D, new int[] {x, cw, cb}, new int[] {c}, TinyTflite.conv(TfliteSchema.PADDING_SAME, 1, 1, TfliteSchema.ACT_RELU6));
        int dw = t.floats("dw", new int[] {1, 3, 3, 6}, rand(r, 54)), d = t.activation("d", 1, 2, 2, 6);
        t.op(TfliteSchema.DEPTHWISE_CONV_2D, new int[] {c, dw, -1}, new int[] {d}, TinyTflite.depthwise(TfliteSchema.PADDING_VALID, 1, 1, 2, 0));
        int k = t.floats("k", new int[] {6}, rand(r, 6)), a = t.activation("a", 1, 2, 2, 6);
        t.op(TfliteSchema.ADD, new int[] {d, k}, new int[] {a}, FbBuilder.table().i8(0, 1));
        int cat = t.activation("cat", 1, 2, 2, 12);
        t.op(TfliteSchema.CONCATENATION, new int[] {a, a}, new int[] {cat}, FbBuilder.table().i32(0, 3));
        int pads = t.ints("pads", new int[] {4, 2}, 0, 0, 1, 1, 1, 1, 0, 0), p = t.activation("p", 1, 4, 4, 12);
        t.op(TfliteSchema.PAD, new int[] {cat, pads}, new int[] {p}, null);
        int q = t.activation("q", 1, 4, 4, 12);
        t.op(TfliteSchema.MAX_POOL_2D, new int[] {p}, new int[] {q}, TinyTflite.pool(TfliteSchema.PADDING_SAME, 1, 1, 3, 3, 0));
        int rr = t.activation("r", 1, 2, 2, 12);
        t.op(TfliteSchema.AVERAGE_POOL_2D, new int[] {q}, new int[] {rr}, TinyTflite.pool(TfliteSchema.PADDING_VALID, 2, 2, 2, 2, 0));
        int axes = t.ints("axes", new int[] {1}, 1), mm = t.activation("mm", 1, 1, 2, 12);
        t.op(TfliteSchema.MEAN, new int[] {rr, axes}, new int[] {mm}, FbBuilder.table().i8(0, 1));
        int shape = t.ints("shape", new int[] {2}, 1, 24), flat = t.activation("flat", 1, 24);
        t.op(TfliteSchema.RESHAPE, new int[] {mm, shape}, new int[] {flat}, FbBuilder.table().ref(0, FbBuilder.ints(1, 24)));
        int fw = t.floats("fw", new int[] {5, 24}, rand(r, 120)), f = t.activation("f", 1, 5);
        t.op(TfliteSchema.FULLY_CONNECTED, new int[] {flat, fw, -1}, new int[] {f}, FbBuilder.table());
        int s = t.activation("s", 1, 5);
        t.op(TfliteSchema.SOFTMAX, new int[] {f}, new int[] {s}, FbBuilder.table().f32(0, 1f));
        return t.io(x, s).bytes();
    }

    private static float[] rand(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    @Timeout(60)
    void mutatedSmallModelsFailOnlyWithImportExceptionWhileBuildingTheGraph() {
        byte[] original = kitchenSink();
        TfliteModel base = TfliteModel.fromBytes(TfliteHostileTest.NAME, original);
        try (var _ = dev.graft.autograd.Autograd.noGrad()) {
            assertThat(base.graph().orElseThrow().forward(dev.graft.tensor.Tensor.zeros(1, 2, 4, 4)).shape()).containsExactly(1, 5);
        }
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < original.length; i++) all.add(i);
        Random rng = new Random(11);
        int iterations = 0, built = 0, rejected = 0;
        long start = System.nanoTime();
        byte[] b = new byte[original.length];
        while (iterations < 4000 && System.nanoTime() - start < 8_000_000_000L) {
            System.arraycopy(original, 0, b, 0, original.length);
            int length = mutate(rng, b, all);
            byte[] input = length == b.length ? b : java.util.Arrays.copyOf(b, length);
            iterations++;
            try {
                TfliteModel m = TfliteModel.fromBytes(TfliteHostileTest.NAME, input);
                m.describe();
                m.graph();
                m.stateDict();
                built++;
            } catch (ImportException e) {
                rejected++;
                TfliteHostileTest.checkOwnException(e);
            } catch (Throwable t) {
                throw new AssertionError("iteration " + iterations + ": " + t, t);
            }
        }
        System.out.printf("fuzz (small model, %d bytes): %d iterations, %d graphs built, %d rejected%n", original.length, iterations, built, rejected);
        assertThat(iterations).isGreaterThanOrEqualTo(500);
        assertThat(built).isPositive();
        assertThat(rejected).isPositive();
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
