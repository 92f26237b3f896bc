package dev.graft.zoo.tflite;

import java.util.Arrays;

/**
 * One tensor of a TFLite subgraph as the file declares it.
 *
 * @param index        the tensor's index in its subgraph
 * @param name         its name (the file's, or {@code tensor_<index>} when the file has none)
 * @param dtype        the stored element type, upper case as in {@link dev.graft.zoo.TensorInfo}: {@code F32},
 *                     {@code F16}, {@code U8}, {@code I8}, {@code I32}, …
 * @param shape        the declared shape (NHWC for images)
 * @param buffer       index of the model buffer that holds its data (0: none)
 * @param dataBytes    bytes of constant data the file holds for it (0 for activations)
 * @param quantization its quantization parameters, or null when it has none
 */
public record TfliteTensor(int index, String name, String dtype, int[] shape, int buffer, long dataBytes, Quantization quantization) {
    public TfliteTensor {
        shape = shape.clone();
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** True when the file stores constant data (weights, biases, shape operands) for this tensor. */
    public boolean hasData() {
        return dataBytes > 0;
    }

    /** Number of elements of the declared shape. */
    public long numel() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TfliteTensor t && index == t.index && name.equals(t.name) && dtype.equals(t.dtype)
                && Arrays.equals(shape, t.shape) && buffer == t.buffer && dataBytes == t.dataBytes
                && java.util.Objects.equals(quantization, t.quantization);
    }

    @Override
    public int hashCode() {
        return index * 31 + name.hashCode();
    }

    @Override
    public String toString() {
        return "'" + name + "' " + dtype + " " + Arrays.toString(shape) + (quantization == null ? "" : " " + quantization);
    }

    /**
     * Affine quantization: {@code real = scale[c] * (q − zeroPoint[c])}, with one (scale, zero point)
     * pair for the whole tensor or one per index of dimension {@code dimension}.
     *
     * @param scale      one or more scales (empty when the file gives only a min/max range)
     * @param zeroPoint  as many zero points as scales
     * @param dimension  the quantized dimension for per-channel parameters
     * @param min        the recorded real minimum(s), possibly empty
     * @param max        the recorded real maximum(s), possibly empty
     */
    public record Quantization(float[] scale, long[] zeroPoint, int dimension, float[] min, float[] max) {
        public Quantization {
            scale = scale.clone();
            zeroPoint = zeroPoint.clone();
            min = min.clone();
            max = max.clone();
        }

        @Override
        public float[] scale() {
            return scale.clone();
        }

        @Override
        public long[] zeroPoint() {
            return zeroPoint.clone();
        }

        @Override
        public float[] min() {
            return min.clone();
        }

        @Override
        public float[] max() {
            return max.clone();
        }

        /** True when one scale covers the whole tensor. */
        public boolean perTensor() {
            return scale.length == 1;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Quantization q && dimension == q.dimension && Arrays.equals(scale, q.scale)
                    && Arrays.equals(zeroPoint, q.zeroPoint) && Arrays.equals(min, q.min) && Arrays.equals(max, q.max);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(scale) * 31 + Arrays.hashCode(zeroPoint);
        }

        @Override
        public String toString() {
            if (scale.length == 1) return "scale " + scale[0] + " zero point " + zeroPoint[0];
            if (scale.length == 0) return min.length > 0 ? "range " + Arrays.toString(min) + ".." + Arrays.toString(max) : "no scale";
            return scale.length + " scales along dimension " + dimension;
        }
    }
}
