package dev.graft.zoo;

import java.util.Arrays;

/**
 * What a weight file says about one stored tensor, before its data is read.
 *
 * @param name  the tensor's name in the file (a state_dict key, a TFLite tensor name, an ONNX
 *              initializer name)
 * @param dtype the stored element type as the format names it, upper case: {@code F32}, {@code F16},
 *              {@code BF16}, {@code I64}, {@code U8}, {@code I8}, {@code I32}, …
 * @param shape the stored shape
 */
public record TensorInfo(String name, String dtype, int[] shape) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** Number of elements (as a long: a hostile header may claim more than an int holds). */
    public long numel() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape);
    }
}
