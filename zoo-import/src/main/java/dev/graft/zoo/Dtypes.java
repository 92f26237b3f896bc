package dev.graft.zoo;

import dev.graft.backend.Backends;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Set;

/** Stored element types shared by the importers: sizes, which are floats, and decoding to float32. */
final class Dtypes {
    private Dtypes() {}

    /** The largest element count a Graft tensor holds. */
    static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    static final Set<String> FLOATS = Set.of("F32", "F16", "BF16", "F64");

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Bytes per element, or -1 for a type the importers do not know. */
    static int size(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL" -> 1;
            default -> -1;
        };
    }

    static boolean isFloat(String dtype) {
        return FLOATS.contains(dtype);
    }

    /**
     * Product of the dimensions, or -1 when a dimension is negative or the product overflows a long.
     */
    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) return -1;
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    /** Reads element {@code index} (an element index, not a byte offset) of a little-endian float array. */
    static float read(MemorySegment seg, long byteBase, String dtype, long index) {
        return switch (dtype) {
            case "F32" -> seg.get(F32, byteBase + index * 4);
            case "F64" -> (float) seg.get(F64, byteBase + index * 8);
            case "F16" -> Float.float16ToFloat(seg.get(I16, byteBase + index * 2));
            case "BF16" -> Float.intBitsToFloat((seg.get(I16, byteBase + index * 2) & 0xffff) << 16);
            default -> throw new IllegalArgumentException("not a float type: " + dtype);
        };
    }

    /** Decodes {@code count} contiguous elements starting at byte {@code byteBase}. */
    static float[] readContiguous(MemorySegment seg, long byteBase, String dtype, int count) {
        float[] out = new float[count];
        if ("F32".equals(dtype)) {
            MemorySegment.copy(seg, F32, byteBase, out, 0, count);
            return out;
        }
        for (int i = 0; i < count; i++) out[i] = read(seg, byteBase, dtype, i);
        return out;
    }

    /** A float32 CPU tensor that takes ownership of {@code data} (no copy). */
    static Tensor tensor(float[] data, int[] shape) {
        return new Tensor(Backends.cpu().fromFloats(data), shape, Shapes.contiguousStrides(shape), 0);
    }
}
