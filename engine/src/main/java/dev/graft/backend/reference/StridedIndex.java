package dev.graft.backend.reference;

/** N-D index arithmetic for the reference kernels: slow, obvious, any rank (including 0-D). */
final class StridedIndex {
    private StridedIndex() {}

    /**
     * The element offset, under {@code strides}, of the {@code linear}-th index of {@code shape} in
     * row-major order: decompose linear into (i_0, …, i_{r−1}) and return Σ i_d · strides[d].
     * A 0-D shape has one index, at offset 0.
     */
    static int offset(int linear, int[] shape, int[] strides) {
        int offset = 0;
        for (int d = shape.length - 1; d >= 0; d--) {
            int i = linear % shape[d];
            linear /= shape[d];
            offset += i * strides[d];
        }
        return offset;
    }
}
