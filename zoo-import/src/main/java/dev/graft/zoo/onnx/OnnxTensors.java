package dev.graft.zoo.onnx;

import com.google.protobuf.ByteString;
import dev.graft.zoo.ImportException;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto;
import dev.graft.zoo.onnx.proto.OnnxProto.TensorProto.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Checks and decodes ONNX {@code TensorProto}s. {@link #check} runs when a file is opened: the shape
 * must be valid (no negative dimension, element count within Java array limits, computed without
 * overflow), the element type known, the data inside the file ({@code external_data} is refused) and
 * exactly as long as the shape says. After that the decoders cannot run past their data.
 */
final class OnnxTensors {
    private OnnxTensors() {}

    /** Largest element count of one tensor (a Java array bound). */
    static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    /**
     * An ImportException whose message is one printable line even when it quotes names from a hostile
     * file: control characters are escaped and an overlong message keeps its first and last 300 characters.
     */
    static ImportException fail(Path file, String message) {
        return fail(file, message, null);
    }

    static ImportException fail(Path file, String message, Throwable cause) {
        StringBuilder b = new StringBuilder(Math.min(message.length(), 700));
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        String m = b.length() > 700 ? b.substring(0, 300) + " … " + b.substring(b.length() - 300) : b.toString();
        return cause == null ? new ImportException(file, m) : new ImportException(file, m, cause);
    }

    /** Bytes per element of a numeric ONNX data type, or 0 when the type is not a fixed-size number. */
    static int elementSize(int dataType) {
        return switch (dataType) {
            case DataType.FLOAT_VALUE, DataType.INT32_VALUE, DataType.UINT32_VALUE -> 4;
            case DataType.DOUBLE_VALUE, DataType.INT64_VALUE, DataType.UINT64_VALUE -> 8;
            case DataType.FLOAT16_VALUE, DataType.BFLOAT16_VALUE, DataType.INT16_VALUE, DataType.UINT16_VALUE -> 2;
            case DataType.INT8_VALUE, DataType.UINT8_VALUE, DataType.BOOL_VALUE -> 1;
            default -> 0;
        };
    }

    /** The type's short upper-case name as {@link dev.graft.zoo.TensorInfo} uses it ({@code F32}, {@code I64}, …). */
    static String dtypeName(int dataType) {
        return switch (dataType) {
            case DataType.FLOAT_VALUE -> "F32";
            case DataType.DOUBLE_VALUE -> "F64";
            case DataType.FLOAT16_VALUE -> "F16";
            case DataType.BFLOAT16_VALUE -> "BF16";
            case DataType.INT64_VALUE -> "I64";
            case DataType.INT32_VALUE -> "I32";
            case DataType.INT16_VALUE -> "I16";
            case DataType.INT8_VALUE -> "I8";
            case DataType.UINT64_VALUE -> "U64";
            case DataType.UINT32_VALUE -> "U32";
            case DataType.UINT16_VALUE -> "U16";
            case DataType.UINT8_VALUE -> "U8";
            case DataType.BOOL_VALUE -> "BOOL";
            case DataType.STRING_VALUE -> "STRING";
            case DataType.COMPLEX64_VALUE -> "C64";
            case DataType.COMPLEX128_VALUE -> "C128";
            default -> "TYPE" + dataType;
        };
    }

    /** Whether values of this type are integers (or booleans). */
    static boolean isIntegral(int dataType) {
        return switch (dataType) {
            case DataType.FLOAT_VALUE, DataType.DOUBLE_VALUE, DataType.FLOAT16_VALUE, DataType.BFLOAT16_VALUE -> false;
            default -> true;
        };
    }

    /** The shape as ints, after checking that no dimension is negative and the element count fits an array. */
    static int[] shape(Path file, String what, java.util.List<Long> dims) {
        if (dims.size() > 64) throw fail(file, what + " has rank " + dims.size() + ", more than 64");
        int[] shape = new int[dims.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            long d = dims.get(i);
            if (d < 0 || d > MAX_ELEMENTS)
                throw fail(file, what + " has an invalid dimension " + d + " in shape " + dims);
            shape[i] = (int) d;
            try {
                numel = Math.multiplyExact(numel, d);
            } catch (ArithmeticException e) {
                numel = Long.MAX_VALUE;
            }
            if (numel > MAX_ELEMENTS)
                throw fail(file, what + " has shape " + dims + ", more than " + MAX_ELEMENTS + " elements");
        }
        return shape;
    }

    /** A description of the tensor for error messages: {@code tensor 'name'}. */
    static String label(TensorProto t) {
        return "tensor '" + (t.getName().isEmpty() ? "(unnamed)" : t.getName()) + "'";
    }

    /**
     * Checks a tensor as described in the class comment; returns its shape. String tensors pass (their
     * data is never read as numbers).
     */
    static int[] check(Path file, TensorProto t, String what) {
        int[] shape = shape(file, what, t.getDimsList());
        long numel = numel(shape);
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL || t.getExternalDataCount() > 0) {
            String location = t.getExternalDataList().stream().filter(e -> e.getKey().equals("location")).map(e -> e.getValue())
                    .findFirst().orElse("?");
            throw fail(file, what + " keeps its data in the external file '" + location
                    + "', which Graft does not read: save the model with its weights inside the .onnx file"
                    + " (onnx.save_model(model, path, save_as_external_data=False))");
        }
        if (t.hasSegment()) throw fail(file, what + " is a segment of a larger tensor, which Graft does not support");
        int type = t.getDataType();
        if (type == DataType.STRING_VALUE) {
            if (t.getStringDataCount() != numel)
                throw fail(file, what + " (STRING " + Arrays.toString(shape) + ") holds " + t.getStringDataCount() + " strings, not " + numel);
            return shape;
        }
        int size = elementSize(type);
        if (size == 0) throw fail(file, what + " has the unsupported element type " + dtypeName(type));
        ByteString raw = t.getRawData();
        if (!raw.isEmpty()) {
            long expected = numel * size; // numel <= 2^31, size <= 8: no overflow
            if (raw.size() != expected)
                throw fail(file, what + " (" + dtypeName(type) + " " + Arrays.toString(shape) + ") needs " + expected
                        + " bytes of raw_data, the file holds " + raw.size());
            return shape;
        }
        int count = switch (type) {
            case DataType.FLOAT_VALUE -> t.getFloatDataCount();
            case DataType.DOUBLE_VALUE -> t.getDoubleDataCount();
            case DataType.INT64_VALUE -> t.getInt64DataCount();
            case DataType.UINT32_VALUE, DataType.UINT64_VALUE -> t.getUint64DataCount();
            default -> t.getInt32DataCount();
        };
        if (count != numel)
            throw fail(file, what + " (" + dtypeName(type) + " " + Arrays.toString(shape) + ") needs " + numel
                    + " values, the file holds " + count);
        return shape;
    }

    static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    private static ByteBuffer raw(TensorProto t) {
        return t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The values as float32 (the tensor must have passed {@link #check}). */
    static float[] toFloats(TensorProto t) {
        int type = t.getDataType();
        if (type == DataType.FLOAT_VALUE) {
            if (!t.getRawData().isEmpty()) {
                float[] out = new float[t.getRawData().size() / 4];
                raw(t).asFloatBuffer().get(out);
                return out;
            }
            float[] out = new float[t.getFloatDataCount()];
            for (int i = 0; i < out.length; i++) out[i] = t.getFloatData(i);
            return out;
        }
        double[] d = toDoubles(t);
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) out[i] = (float) d[i];
        return out;
    }

    /** The values as doubles (exact for every type but 64-bit integers beyond 2^53). */
    static double[] toDoubles(TensorProto t) {
        int type = t.getDataType();
        boolean hasRaw = !t.getRawData().isEmpty();
        if (hasRaw) {
            ByteBuffer b = raw(t);
            int n = b.remaining() / elementSize(type);
            double[] out = new double[n];
            for (int i = 0; i < n; i++) {
                out[i] = switch (type) {
                    case DataType.FLOAT_VALUE -> b.getFloat();
                    case DataType.DOUBLE_VALUE -> b.getDouble();
                    case DataType.FLOAT16_VALUE -> Float.float16ToFloat(b.getShort());
                    case DataType.BFLOAT16_VALUE -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                    case DataType.INT64_VALUE -> b.getLong();
                    case DataType.UINT64_VALUE -> unsigned(b.getLong());
                    case DataType.INT32_VALUE -> b.getInt();
                    case DataType.UINT32_VALUE -> b.getInt() & 0xffffffffL;
                    case DataType.INT16_VALUE -> b.getShort();
                    case DataType.UINT16_VALUE -> b.getShort() & 0xffff;
                    case DataType.INT8_VALUE -> b.get();
                    default -> b.get() & 0xff; // UINT8, BOOL
                };
            }
            return out;
        }
        return switch (type) {
            case DataType.FLOAT_VALUE -> {
                double[] out = new double[t.getFloatDataCount()];
                for (int i = 0; i < out.length; i++) out[i] = t.getFloatData(i);
                yield out;
            }
            case DataType.DOUBLE_VALUE -> {
                double[] out = new double[t.getDoubleDataCount()];
                for (int i = 0; i < out.length; i++) out[i] = t.getDoubleData(i);
                yield out;
            }
            case DataType.INT64_VALUE -> {
                double[] out = new double[t.getInt64DataCount()];
                for (int i = 0; i < out.length; i++) out[i] = t.getInt64Data(i);
                yield out;
            }
            case DataType.UINT32_VALUE, DataType.UINT64_VALUE -> {
                double[] out = new double[t.getUint64DataCount()];
                for (int i = 0; i < out.length; i++) out[i] = unsigned(t.getUint64Data(i));
                yield out;
            }
            default -> {
                double[] out = new double[t.getInt32DataCount()];
                for (int i = 0; i < out.length; i++) {
                    int v = t.getInt32Data(i);
                    out[i] = switch (type) {
                        case DataType.FLOAT16_VALUE -> Float.float16ToFloat((short) v);
                        case DataType.BFLOAT16_VALUE -> Float.intBitsToFloat((v & 0xffff) << 16);
                        default -> v;
                    };
                }
                yield out;
            }
        };
    }

    private static double unsigned(long v) {
        return v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
    }
}
