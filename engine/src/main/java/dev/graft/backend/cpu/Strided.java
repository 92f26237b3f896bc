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
}
