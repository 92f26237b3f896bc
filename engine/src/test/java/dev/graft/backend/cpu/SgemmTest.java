package dev.graft.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Sgemm against a naive double-precision triple loop, over odd shapes, transposes, strides and thread counts. */
class SgemmTest {
    private static final int[] SIZES = {1, 7, 17, 65, 129, 300};
    private final int savedThreads = Parallel.threads();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(savedThreads);
    }

    /** One product: shapes, transposes, scalars, and padding around every matrix. */
    private record Case(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                        int aOff, int lda, int bOff, int ldb, int cOff, int ldc) {
        static Case of(Random rng, boolean ta, boolean tb, int m, int n, int k, float alpha, float beta) {
            int aCols = ta ? m : k, bCols = tb ? k : n;
            return new Case(ta, tb, m, n, k, alpha, beta,
                    rng.nextInt(5), aCols + rng.nextInt(4), rng.nextInt(5), bCols + rng.nextInt(4),
                    rng.nextInt(5), n + rng.nextInt(4));
        }

        int aLen() { return aOff + (ta ? k : m) * lda; }
        int bLen() { return bOff + (tb ? n : k) * ldb; }
        int cLen() { return cOff + m * ldc + 3; }

        @Override public String toString() {
            return String.format("%s%s m=%d n=%d k=%d alpha=%s beta=%s lda=%d ldb=%d ldc=%d offs=%d/%d/%d",
                    ta ? "T" : "N", tb ? "T" : "N", m, n, k, alpha, beta, lda, ldb, ldc, aOff, bOff, cOff);
        }
    }

    private static float[] random(Random rng, int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = (float) rng.nextGaussian();
        return d;
    }

    /** Runs the case with the given inputs and C contents; returns the new C array. */
    private static float[] run(Case c, float[] a, float[] b, float[] c0) {
        float[] out = c0.clone();
        Sgemm.sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a, c.aOff, c.lda, b, c.bOff, c.ldb, c.beta, out, c.cOff, c.ldc);
        return out;
    }

    /** Checks against the double triple loop, with a tolerance scaled by Σ|a·b| per element. */
    private static void check(Case c, float[] a, float[] b, float[] c0, float[] got) {
        double worst = 0;
        String first = null;
        for (int i = 0; i < c.m; i++) {
            for (int j = 0; j < c.n; j++) {
                double acc = 0, mag = 0;
                for (int p = 0; p < c.k; p++) {
                    double av = a[c.aOff + (c.ta ? p * c.lda + i : i * c.lda + p)];
                    double bv = b[c.bOff + (c.tb ? j * c.ldb + p : p * c.ldb + j)];
                    acc += av * bv;
                    mag += Math.abs(av * bv);
                }
                int ci = c.cOff + i * c.ldc + j;
                double old = c.beta == 0 ? 0 : c.beta * (double) c0[ci];
                double expected = c.alpha * acc + old;
                double tol = 1e-5 * (Math.abs(c.alpha) * mag + Math.abs(old)) + 1e-30;
                double diff = Math.abs(got[ci] - expected);
                if (!(diff <= tol)) {
                    worst = Math.max(worst, Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff);
                    if (first == null) first = String.format("C[%d][%d] = %s, expected %s (tol %.3g)", i, j, got[ci], expected, tol);
                }
            }
            // ld padding between rows must be untouched.
            for (int j = c.n; j < c.ldc && i < c.m - 1; j++) {
                int ci = c.cOff + i * c.ldc + j;
                if (Float.floatToRawIntBits(got[ci]) != Float.floatToRawIntBits(c0[ci]))
                    fail("%s: wrote outside C at row %d column %d", c, i, j);
            }
        }
        for (int i = 0; i < c.cOff; i++)
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(c0[i])) fail("%s: wrote before C", c);
        if (first != null) fail("%s: %s; max difference %.3g", c, first, worst);
    }

    private static void checkCase(Random rng, Case c) {
        float[] a = random(rng, c.aLen()), b = random(rng, c.bLen()), c0 = random(rng, c.cLen());
        // beta = 0 must not read C: NaN there must not leak into the result.
        if (c.beta == 0) Arrays.fill(c0, c.cOff, c.cOff + (c.m - 1) * c.ldc + c.n, Float.NaN);
        check(c, a, b, c0, run(c, a, b, c0));
    }

    @Test
    void allTransposeCombinationsOverOddSizes() {
        Random rng = new Random(42);
        Parallel.setThreads(2);
        List<Case> cases = new ArrayList<>();
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (int m : SIZES)
                    for (int n : SIZES) {
                        int k = SIZES[rng.nextInt(SIZES.length)];
                        cases.add(Case.of(rng, ta, tb, m, n, k, 1f, 0f));
                    }
        for (Case c : cases) checkCase(rng, c);
    }

    @Test
    void alphaAndBeta() {
        Random rng = new Random(7);
        float[][] ab = {{1f, 1f}, {0.5f, 0f}, {-2f, 0.3f}, {1f, -1f}, {0f, 0.5f}, {0f, 0f}, {1.5f, 1f}};
        for (float[] s : ab)
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true})
                    checkCase(rng, Case.of(rng, ta, tb, 17 + rng.nextInt(60), 7 + rng.nextInt(80), 1 + rng.nextInt(90), s[0], s[1]));
    }

    @Test
    void deepAndWideProductsCrossEveryBlockBoundary() {
        Random rng = new Random(3);
        // k beyond several KC blocks, m beyond MC, n beyond NC.
        checkCase(rng, Case.of(rng, false, false, 33, 45, 1100, 1f, 0f));
        checkCase(rng, Case.of(rng, true, true, 41, 29, 900, 0.7f, 0.2f));
        checkCase(rng, Case.of(rng, false, true, 400, 37, 70, 1f, 1f));
        checkCase(rng, Case.of(rng, true, false, 9, Sgemm.NC + 77, 13, 1f, 0f));
        checkCase(rng, Case.of(rng, false, false, 300, 300, 300, 1f, 0f));
    }

    @Test
    void degenerateShapes() {
        Random rng = new Random(5);
        // k = 0: C = beta·C (zero when beta = 0, even over NaN).
        Case c = Case.of(rng, false, false, 5, 6, 0, 1f, 0f);
        float[] c0 = random(rng, c.cLen());
        Arrays.fill(c0, Float.NaN);
        float[] got = run(c, new float[c.aLen() + 1], new float[c.bLen() + 1], c0);
        for (int i = 0; i < c.m; i++)
            for (int j = 0; j < c.n; j++) assertThat(got[c.cOff + i * c.ldc + j]).isZero();
        checkCase(rng, Case.of(rng, false, false, 1, 1, 1, 1f, 0f));
        checkCase(rng, Case.of(rng, true, false, 1, 300, 129, 1f, 0.5f));
        checkCase(rng, Case.of(rng, false, true, 300, 1, 129, 2f, 0f));
    }

    @Test
    void bitIdenticalForOneTwoAndSevenThreads() {
        Random rng = new Random(11);
        List<Case> cases = List.of(
                Case.of(rng, false, false, 300, 129, 700, 1f, 0f),
                Case.of(rng, true, false, 65, 300, 257, 0.5f, 1f),
                Case.of(rng, false, true, 17, 1000, 129, 1f, 0.3f),
                Case.of(rng, true, true, 129, 17, 65, -1f, 0f),
                Case.of(rng, false, false, 7, 7, 7, 1f, 0f));
        for (Case c : cases) {
            float[] a = random(rng, c.aLen()), b = random(rng, c.bLen()), c0 = random(rng, c.cLen());
            Parallel.setThreads(1);
            float[] one = run(c, a, b, c0);
            for (int t : new int[] {2, 7}) {
                Parallel.setThreads(t);
                float[] many = run(c, a, b, c0);
                for (int i = 0; i < one.length; i++) {
                    if (Float.floatToRawIntBits(one[i]) != Float.floatToRawIntBits(many[i]))
                        fail("%s: %d threads differ from 1 thread at %d: %s vs %s", c, t, i, many[i], one[i]);
                }
            }
            check(c, a, b, c0, one);
        }
    }
}
