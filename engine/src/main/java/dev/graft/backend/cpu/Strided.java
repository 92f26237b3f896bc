package dev.graft.backend.cpu;

/**
 * Walks the rows of a strided N-D index space: the last dimension is the inner loop a kernel runs
 * itself, the cursor steps through the outer dimensions (an odometer) and keeps one element offset
 * per operand up to date.
 */
final class Strided {
    final int[] shape;
    final int[][] strides;
    final int rank;
    private final int[] idx;
    /** Offset of the current row's first element, per operand. */
    final int[] off;

    /** A cursor over the given shape and per-operand strides, at outer row {@code row}. */
    Strided(int[] shape, int[][] strides, int[] base, int row) {
        this.shape = shape;
        this.strides = strides;
        this.rank = shape.length;
        this.idx = new int[rank];
        this.off = base.clone();
        // Unravel the row number over the outer dimensions (row-major).
        for (int d = rank - 2; d >= 0; d--) {
            idx[d] = row % shape[d];
            row /= shape[d];
            for (int t = 0; t < off.length; t++) off[t] += idx[d] * strides[t][d];
        }
    }

    /** Moves to the next outer row. */
    void next() {
        for (int d = rank - 2; d >= 0; d--) {
            idx[d]++;
            if (idx[d] < shape[d]) {
                for (int t = 0; t < off.length; t++) off[t] += strides[t][d];
                return;
            }
            idx[d] = 0;
            for (int t = 0; t < off.length; t++) off[t] -= strides[t][d] * (shape[d] - 1);
        }
    }

    /** Number of outer rows (product of all but the last dimension); 1 for rank ≤ 1. */
    static int rows(int[] shape) {
        int r = 1;
        for (int d = 0; d < shape.length - 1; d++) r *= shape[d];
        return r;
    }

    /**
     * Drops size-1 dimensions and merges neighbours that are contiguous with each other in every
     * operand. Returns {shape, strides of operand 0, strides of operand 1, ...}; the shape of a
     * scalar becomes empty.
     */
    static int[][] coalesce(int[] shape, int[]... strides) {
        int n = strides.length;
        int[] sh = new int[shape.length];
        int[][] st = new int[n][shape.length];
        int r = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            if (r > 0) {
                boolean merge = true;
                for (int t = 0; t < n; t++) {
                    if (st[t][r - 1] != strides[t][d] * shape[d]) {
                        merge = false;
                        break;
                    }
                }
                if (merge) {
                    sh[r - 1] *= shape[d];
                    for (int t = 0; t < n; t++) st[t][r - 1] = strides[t][d];
                    continue;
                }
            }
            sh[r] = shape[d];
            for (int t = 0; t < n; t++) st[t][r] = strides[t][d];
            r++;
        }
        int[][] out = new int[n + 1][];
        out[0] = java.util.Arrays.copyOf(sh, r);
        for (int t = 0; t < n; t++) out[t + 1] = java.util.Arrays.copyOf(st[t], r);
        return out;
    }
}
