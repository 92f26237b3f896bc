package dev.graft.zoo.onnx;

import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import java.util.Arrays;

/**
 * A value of an ONNX graph known when the file is imported: an initializer, a {@code Constant} node's
 * tensor, or the result of folding shape arithmetic ({@code Shape}, {@code Gather}, {@code Concat}, …).
 * Initializers keep their protobuf source and are decoded only when the graph's weights are built.
 * Entries of a folded shape may be symbolic (an input's dynamic batch size): {@link #syms} then holds
 * a negative symbol id at those positions and 0 elsewhere.
 */
final class Const {
    final int[] shape;
    final boolean integral;
    /** Whether the values are fixed-size numbers (not strings or complex numbers), i.e. decodable. */
    final boolean numeric;
    private final TensorProto source;
    private double[] values;
    /** Symbol ids (negative) of symbolic entries, 0 for concrete ones; null when all are concrete. */
    final long[] syms;

    private Const(int[] shape, boolean integral, TensorProto source, double[] values, long[] syms) {
        this.shape = shape;
        this.numeric = source == null || (OnnxTensors.elementSize(source.getDataType()) > 0);
        this.integral = integral;
        this.source = source;
        this.values = values;
        this.syms = syms;
    }

    /** An initializer or Constant tensor that passed {@link OnnxTensors#check}. */
    static Const of(TensorProto t, int[] shape) {
        return new Const(shape, OnnxTensors.isIntegral(t.getDataType()), t, null, null);
    }

    static Const of(int[] shape, boolean integral, double[] values) {
        return new Const(shape, integral, null, values, null);
    }

    /** A 1-D integer vector whose entries may be symbolic ({@code syms[i] < 0}). */
    static Const symbolic(double[] values, long[] syms) {
        boolean any = false;
        for (long s : syms) any |= s != 0;
        return new Const(new int[] {values.length}, true, null, values, any ? syms : null);
    }

    /** The same values with another shape of equal element count (symbols kept). */
    static Const reshaped(Const c, int[] shape) {
        return new Const(shape.clone(), c.integral, c.source, c.source == null ? c.values : null, c.syms);
    }

    long numel() {
        return OnnxTensors.numel(shape);
    }

    boolean isSymbolic() {
        return syms != null;
    }

    /** The values as doubles (decoded once and kept: use for small tensors). */
    double[] values() {
        if (values == null) values = OnnxTensors.toDoubles(source);
        return values;
    }

    /** A fresh float32 copy of the values (for weights: decoded from the file each time, not kept). */
    float[] floats() {
        if (source != null && values == null) return OnnxTensors.toFloats(source);
        double[] v = values();
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (float) v[i];
        return out;
    }

    long[] longs() {
        double[] v = values();
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (long) v[i];
        return out;
    }

    @Override
    public String toString() {
        return (integral ? "int " : "float ") + Arrays.toString(shape);
    }
}
