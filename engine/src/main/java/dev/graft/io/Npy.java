package dev.graft.io;

import dev.graft.GraftException;
import dev.graft.backend.Backend;
import dev.graft.backend.Backends;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * NumPy's {@code .npy} and {@code .npz} formats.
 *
 * <p><b>Reading</b> accepts format versions 1.0, 2.0 and 3.0; little-, big- and native-endian
 * {@code f2 f4 f8}, {@code i1 i2 i4 i8}, {@code u1 u2 u4 u8} and {@code |b1}; C and Fortran order
 * (Fortran data is reordered to C order). Object, string, complex, datetime and structured dtypes are
 * rejected. Values become a float32 tensor unless another type is asked for ({@link #read(Path, DType)}),
 * or keep their stored kind through {@link #readArray(Path)} (float64 stays float64, integers stay
 * integers, e.g. for class labels).
 *
 * <p>Files are treated as hostile: the header is at most {@value #MAX_HEADER_BYTES} bytes and parsed
 * as a tiny Python-literal subset; the shape's element count is computed overflow-safely and checked
 * against the bytes actually present <em>before</em> anything is allocated; trailing bytes are an
 * error. Every problem is a {@link GraftException} with a one-line message naming the file (and the
 * archive entry).
 *
 * <p><b>Writing</b> produces version 1.0 files (2.0 when the header would not fit), little-endian
 * {@code <f4} for float32 tensors and {@code <f8} for float64 ones, C order, headers padded to 64
 * bytes as NumPy does. Files are written atomically: to a temporary file in the same directory,
 * forced to disk, then renamed over the target. {@code .npz} archives are written uncompressed (as
 * {@code numpy.savez}); both stored and deflated entries are read.
 */
public final class Npy {
    private Npy() {}

    /** Largest accepted header (NumPy itself refuses more than 10 000 bytes by default). */
    public static final int MAX_HEADER_BYTES = 64 * 1024;
    /** Largest accepted number of dimensions (NumPy 2 allows 64). */
    public static final int MAX_RANK = 64;
    /** Largest element count: Graft tensors and Java arrays are int-indexed. */
    public static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int CHUNK = 1 << 16;
    /** Deflate cannot compress better than about 1032:1; anything claiming more is a zip bomb. */
    private static final long MAX_DEFLATE_RATIO = 1100;

    // ================================================================== element types

    /** What a stored element is. */
    public enum Kind { FLOAT, SIGNED, UNSIGNED, BOOL }

    /**
     * A parsed dtype descriptor such as {@code <f4}: kind, size in bytes and byte order.
     *
     * @param descr the descriptor as written in the file
     */
    public record ElementType(String descr, Kind kind, int size, ByteOrder order) {
        private static final Pattern DESCR = Pattern.compile("([<>|=]?)([a-zA-Z])(\\d{1,3})");

        /** Parses a NumPy dtype string; {@code where} names the file for error messages. */
        static ElementType parse(String descr, String where) {
            Matcher m = DESCR.matcher(descr);
            if (!m.matches()) {
                if (descr.startsWith("|O") || descr.startsWith("O") || descr.matches("[<>|=]?O\\d*"))
                    throw fail(where, "object arrays (pickled Python objects) are not supported (dtype " + quote(descr) + ")");
                throw fail(where, "unsupported dtype " + quote(descr) + " (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)");
            }
            String bo = m.group(1);
            char c = m.group(2).charAt(0);
            int size = Integer.parseInt(m.group(3));
            Kind kind = switch (c) {
                case 'f' -> size == 2 || size == 4 || size == 8 ? Kind.FLOAT : null;
                case 'i' -> size == 1 || size == 2 || size == 4 || size == 8 ? Kind.SIGNED : null;
                case 'u' -> size == 1 || size == 2 || size == 4 || size == 8 ? Kind.UNSIGNED : null;
                case 'b' -> size == 1 ? Kind.BOOL : null;
                case 'O' -> throw fail(where, "object arrays (pickled Python objects) are not supported (dtype " + quote(descr) + ")");
                default -> null;
            };
            if (kind == null)
                throw fail(where, "unsupported dtype " + quote(descr) + " (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)");
            ByteOrder order = switch (bo) {
                case "<" -> ByteOrder.LITTLE_ENDIAN;
                case ">" -> ByteOrder.BIG_ENDIAN;
                case "|" -> {
                    if (size != 1) throw fail(where, "dtype " + quote(descr) + " has no byte order ('|') but " + size + "-byte elements");
                    yield ByteOrder.LITTLE_ENDIAN;
                }
                default -> ByteOrder.nativeOrder(); // "=" or nothing
            };
            return new ElementType(descr, kind, size, order);
        }
    }

    // ================================================================== arrays

    /**
     * An array as read from a file, values kept in the stored kind: float16/float32 as {@code float},
     * float64 as {@code double}, integers and booleans as {@code long} (unsigned 64-bit values as their
     * two's-complement bits).
     */
    public static final class Array {
        private final String source;
        private final ElementType type;
        private final int[] shape;
        private final float[] floats;
        private final double[] doubles;
        private final long[] longs;

        private Array(String source, ElementType type, int[] shape, float[] floats, double[] doubles, long[] longs) {
            this.source = source;
            this.type = type;
            this.shape = shape;
            this.floats = floats;
            this.doubles = doubles;
            this.longs = longs;
        }

        /** The file (and entry) this array came from, for messages. */
        public String source() { return source; }
        public ElementType type() { return type; }
        public int[] shape() { return shape.clone(); }
        public int numel() { return Shapes.numel(shape); }

        /** A CPU tensor: float64 for {@code f8} data, float32 otherwise. */
        public Tensor toTensor() {
            return toTensor(doubles != null ? DType.FLOAT64 : DType.FLOAT32);
        }

        /** A CPU tensor of the given element type. */
        public Tensor toTensor(DType dtype) {
            Backend b = Backends.get(Device.CPU, dtype);
            var storage = dtype == DType.FLOAT64 ? b.fromDoubles(toDoubleArray()) : b.fromFloats(toFloatArray());
            return new Tensor(storage, shape, Shapes.contiguousStrides(shape), 0);
        }

        /** The values in C order as floats (a copy). */
        public float[] toFloatArray() {
            if (floats != null) return floats.clone();
            float[] out = new float[numel()];
            if (doubles != null) for (int i = 0; i < out.length; i++) out[i] = (float) doubles[i];
            else for (int i = 0; i < out.length; i++) out[i] = (float) longToDouble(longs[i]);
            return out;
        }

        /** The values in C order as doubles (a copy). */
        public double[] toDoubleArray() {
            if (doubles != null) return doubles.clone();
            double[] out = new double[numel()];
            if (floats != null) for (int i = 0; i < out.length; i++) out[i] = floats[i];
            else for (int i = 0; i < out.length; i++) out[i] = longToDouble(longs[i]);
            return out;
        }

        /** The values as longs; float values must be integral. */
        public long[] toLongArray() {
            if (longs != null) {
                if (type.kind() == Kind.UNSIGNED && type.size() == 8)
                    for (int i = 0; i < longs.length; i++)
                        if (longs[i] < 0) throw fail(source, "value " + Long.toUnsignedString(longs[i]) + " at index " + i + " does not fit a signed 64-bit integer");
                return longs.clone();
            }
            long[] out = new long[numel()];
            for (int i = 0; i < out.length; i++) {
                double v = floats != null ? floats[i] : doubles[i];
                if (v != Math.rint(v) || Math.abs(v) > 0x1p63)
                    throw fail(source, "expected integer values, found " + v + " at index " + i + " (dtype " + quote(type.descr()) + ")");
                out[i] = (long) v;
            }
            return out;
        }

        /** The values as ints (e.g. class labels); each must fit an int. */
        public int[] toIntArray() {
            long[] l = toLongArray();
            int[] out = new int[l.length];
            for (int i = 0; i < l.length; i++) {
                if (l[i] < Integer.MIN_VALUE || l[i] > Integer.MAX_VALUE)
                    throw fail(source, "value " + l[i] + " at index " + i + " does not fit a 32-bit integer");
                out[i] = (int) l[i];
            }
            return out;
        }

        private double longToDouble(long v) {
            if (type.kind() == Kind.UNSIGNED && type.size() == 8 && v < 0) return (double) (v >>> 1) * 2.0 + (v & 1);
            return v;
        }

        @Override
        public String toString() {
            return "Npy.Array(" + type.descr() + ", shape=" + Arrays.toString(shape) + ", from " + source + ")";
        }
    }

    // ================================================================== reading .npy

    /** Reads a {@code .npy} file into a float32 CPU tensor. */
    public static Tensor read(Path file) {
        return read(file, DType.FLOAT32);
    }

    /** Reads a {@code .npy} file into a CPU tensor of the given element type. */
    public static Tensor read(Path file, DType dtype) {
        Array a = readArray(file, dtype == DType.FLOAT64 ? Target.F64 : Target.F32);
        return a.toTensor(dtype);
    }

    /** Reads a {@code .npy} file keeping the stored kind (see {@link Array}). */
    public static Array readArray(Path file) {
        return readArray(file, null);
    }

    private static Array readArray(Path file, Target target) {
        String where = file.toString();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return decode(ch, ch.size(), where, target);
        } catch (GraftException e) {
            throw e;
        } catch (IOException e) {
            throw ioFailure(where, "cannot read", e);
        }
    }

    /** Where decoded values go. */
    private enum Target { F32, F64, I64 }

    /** Header fields of one array. */
    private record Header(ElementType type, boolean fortran, int[] shape, int numel, long dataBytes) {}

    /**
     * Decodes one array from {@code ch}, which holds exactly {@code available} bytes (the whole file or
     * zip entry). {@code target} null picks the stored kind.
     */
    private static Array decode(ReadableByteChannel ch, long available, String where, Target target) throws IOException {
        if (available < 10) {
            ByteBuffer probe = ByteBuffer.allocate((int) Math.max(0, available));
            readUpTo(ch, probe);
            if (!startsWithMagic(probe.array(), probe.position()))
                throw fail(where, "not a .npy file (" + available + " bytes, no \\x93NUMPY magic)");
            throw fail(where, "truncated .npy header (" + available + " bytes)");
        }
        ByteBuffer pre = ByteBuffer.allocate(8);
        readFully(ch, pre, where, "the .npy preamble");
        byte[] p = pre.array();
        if (!startsWithMagic(p, 8)) {
            String hint = p[0] == 'P' && p[1] == 'K' ? " (it looks like a zip archive: read it as .npz)" : "";
            throw fail(where, "not a .npy file: bad magic bytes " + hex(p, 6) + ", expected 93 4e 55 4d 50 59" + hint);
        }
        int major = p[6] & 0xFF, minor = p[7] & 0xFF;
        if (major < 1 || major > 3 || minor != 0)
            throw fail(where, "unsupported .npy format version " + major + "." + minor + " (supported: 1.0, 2.0, 3.0)");
        int lenBytes = major == 1 ? 2 : 4;
        ByteBuffer lb = ByteBuffer.allocate(lenBytes).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lb, where, "the .npy header length");
        lb.flip();
        long headerLen = major == 1 ? lb.getShort() & 0xFFFFL : lb.getInt() & 0xFFFFFFFFL;
        if (headerLen > MAX_HEADER_BYTES)
            throw fail(where, "header length " + headerLen + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
        long prefix = 8 + lenBytes;
        if (headerLen > available - prefix)
            throw fail(where, "truncated: header length " + headerLen + " but only " + (available - prefix) + " bytes follow");
        ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
        readFully(ch, hb, where, "the .npy header");
        String text = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Header h = parseHeader(text, where);

        long remaining = available - prefix - headerLen;
        if (remaining < h.dataBytes())
            throw fail(where, "truncated: header promises shape " + shapeStr(h.shape()) + " of " + h.type().descr() + " = "
                    + h.dataBytes() + " bytes of data, but only " + remaining + " bytes follow");
        if (remaining > h.dataBytes())
            throw fail(where, (remaining - h.dataBytes()) + " unexpected bytes after the data of shape " + shapeStr(h.shape())
                    + " (" + h.type().descr() + ", " + h.dataBytes() + " bytes)");

        Target t = target != null ? target : switch (h.type().kind()) {
            case FLOAT -> h.type().size() == 8 ? Target.F64 : Target.F32;
            default -> Target.I64;
        };
        int n = h.numel();
        float[] f = t == Target.F32 ? new float[n] : null;
        double[] d = t == Target.F64 ? new double[n] : null;
        long[] l = t == Target.I64 ? new long[n] : null;
        readData(ch, h.type(), n, f, d, l, where);
        if (h.fortran() && h.shape().length > 1) {
            int[] perm = fortranToC(h.shape());
            if (f != null) f = permute(f, perm);
            if (d != null) d = permute(d, perm);
            if (l != null) l = permute(l, perm);
        }
        return new Array(where, h.type(), h.shape(), f, d, l);
    }

    private static void readData(ReadableByteChannel ch, ElementType type, int n, float[] f, double[] d, long[] l, String where)
            throws IOException {
        int size = type.size();
        int perChunk = CHUNK / size;
        ByteBuffer buf = ByteBuffer.allocate(perChunk * size).order(type.order());
        for (int start = 0; start < n; start += perChunk) {
            int count = Math.min(perChunk, n - start);
            buf.clear().limit(count * size);
            readFully(ch, buf, where, "the array data");
            buf.flip();
            if (type.kind() == Kind.FLOAT && size == 4 && f != null) {
                buf.asFloatBuffer().get(f, start, count);
            } else if (type.kind() == Kind.FLOAT && size == 8 && d != null) {
                buf.asDoubleBuffer().get(d, start, count);
            } else if (type.kind() == Kind.FLOAT) {
                for (int i = start; i < start + count; i++) {
                    double v = switch (size) {
                        case 2 -> Float.float16ToFloat(buf.getShort());
                        case 4 -> buf.getFloat();
                        default -> buf.getDouble();
                    };
                    if (f != null) f[i] = (float) v;
                    else if (d != null) d[i] = v;
                    else l[i] = (long) v; // not reached: integer targets are only chosen for integer data
                }
            } else {
                for (int i = start; i < start + count; i++) {
                    long v = switch (type.kind()) {
                        case BOOL -> buf.get() != 0 ? 1 : 0;
                        case SIGNED -> switch (size) {
                            case 1 -> buf.get();
                            case 2 -> buf.getShort();
                            case 4 -> buf.getInt();
                            default -> buf.getLong();
                        };
                        default -> switch (size) {
                            case 1 -> buf.get() & 0xFFL;
                            case 2 -> buf.getShort() & 0xFFFFL;
                            case 4 -> buf.getInt() & 0xFFFFFFFFL;
                            default -> buf.getLong();
                        };
                    };
                    boolean u64 = type.kind() == Kind.UNSIGNED && size == 8 && v < 0;
                    if (l != null) l[i] = v;
                    else if (f != null) f[i] = u64 ? (float) ((double) (v >>> 1) * 2.0) : (float) v;
                    else d[i] = u64 ? (double) (v >>> 1) * 2.0 + (v & 1) : (double) v;
                }
            }
        }
    }

    /** For each C-order position, the position of that element in Fortran-order data. */
    private static int[] fortranToC(int[] shape) {
        int rank = shape.length, n = Shapes.numel(shape);
        int[] fStrides = new int[rank];
        int acc = 1;
        for (int k = 0; k < rank; k++) {
            fStrides[k] = acc;
            acc *= Math.max(1, shape[k]);
        }
        int[] perm = new int[n];
        int[] idx = new int[rank];
        int src = 0;
        for (int i = 0; i < n; i++) {
            perm[i] = src;
            for (int k = rank - 1; k >= 0; k--) { // C-order odometer, last index fastest
                idx[k]++;
                src += fStrides[k];
                if (idx[k] < shape[k]) break;
                src -= idx[k] * fStrides[k];
                idx[k] = 0;
            }
        }
        return perm;
    }

    private static float[] permute(float[] v, int[] perm) {
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) out[i] = v[perm[i]];
        return out;
    }

    private static double[] permute(double[] v, int[] perm) {
        double[] out = new double[v.length];
        for (int i = 0; i < out.length; i++) out[i] = v[perm[i]];
        return out;
    }

    private static long[] permute(long[] v, int[] perm) {
        long[] out = new long[v.length];
        for (int i = 0; i < out.length; i++) out[i] = v[perm[i]];
        return out;
    }

    // ================================================================== header parsing

    private static Header parseHeader(String text, String where) {
        Object parsed;
        try {
            PyLiteral p = new PyLiteral(text);
            parsed = p.parseAll();
        } catch (IllegalArgumentException e) {
            throw fail(where, "malformed header: " + e.getMessage() + " in " + quote(text.strip()));
        }
        if (!(parsed instanceof Map<?, ?> dict))
            throw fail(where, "malformed header: expected a dict, got " + quote(text.strip()));
        for (String key : List.of("descr", "fortran_order", "shape"))
            if (!dict.containsKey(key)) throw fail(where, "header lacks the key '" + key + "': " + quote(text.strip()));
        if (dict.size() != 3) {
            List<Object> extra = new ArrayList<>(dict.keySet());
            extra.removeAll(List.of("descr", "fortran_order", "shape"));
            throw fail(where, "header has unexpected keys " + quote(extra.toString()));
        }
        Object descr = dict.get("descr");
        if (descr instanceof List<?>)
            throw fail(where, "structured (record) dtypes are not supported: " + quote(String.valueOf(descr)));
        if (!(descr instanceof String ds)) throw fail(where, "header 'descr' is not a string: " + quote(String.valueOf(descr)));
        ElementType type = ElementType.parse(ds, where);
        if (!(dict.get("fortran_order") instanceof Boolean fortran))
            throw fail(where, "header 'fortran_order' is not True or False: " + quote(String.valueOf(dict.get("fortran_order"))));
        if (!(dict.get("shape") instanceof PyTuple(List<Object> dims)))
            throw fail(where, "header 'shape' is not a tuple: " + quote(String.valueOf(dict.get("shape"))));
        if (dims.size() > MAX_RANK) throw fail(where, "shape has " + dims.size() + " dimensions, more than " + MAX_RANK);
        int[] shape = new int[dims.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(dims.get(i) instanceof Long dim)) throw fail(where, "shape entry " + quote(String.valueOf(dims.get(i))) + " is not an integer");
            if (dim < 0) throw fail(where, "negative dimension " + dim + " in shape " + quote(dims.toString()));
            if (dim > MAX_ELEMENTS) throw fail(where, "dimension " + dim + " in shape " + quote(dims.toString()) + " is too large");
            shape[i] = (int) (long) dim;
            numel = numel == 0 ? 0 : saturatingMultiply(numel, dim);
        }
        if (numel > MAX_ELEMENTS)
            throw fail(where, "shape " + shapeStr(shape) + " has more than " + MAX_ELEMENTS + " elements");
        long dataBytes = numel * type.size(); // ≤ (2^31) · 8: no overflow
        return new Header(type, fortran, shape, (int) numel, dataBytes);
    }

    private static long saturatingMultiply(long a, long b) {
        long r = a * b;
        return (Math.multiplyHigh(a, b) != 0 || r < 0 || (a != 0 && r / a != b)) ? Long.MAX_VALUE : r;
    }

    /** A Python tuple, kept apart from lists (the shape must be a tuple; a list descr means a structured dtype). */
    private record PyTuple(List<Object> items) {
        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("(");
            for (int i = 0; i < items.size(); i++) sb.append(i == 0 ? "" : ", ").append(items.get(i));
            return sb.append(items.size() == 1 ? ",)" : ")").toString();
        }
    }

    /**
     * Parser for the Python literals a .npy header holds: dicts, tuples, lists, strings, integers,
     * True, False and None. Nesting is bounded so a hostile header cannot exhaust the stack.
     */
    private static final class PyLiteral {
        private static final int MAX_DEPTH = 16;
        private final String s;
        private int pos;

        PyLiteral(String s) {
            this.s = s;
        }

        Object parseAll() {
            Object v = value(0);
            skipWs();
            if (pos != s.length()) throw new IllegalArgumentException("unexpected " + charDesc() + " at offset " + pos);
            return v;
        }

        private Object value(int depth) {
            if (depth > MAX_DEPTH) throw new IllegalArgumentException("nesting deeper than " + MAX_DEPTH);
            skipWs();
            if (pos >= s.length()) throw new IllegalArgumentException("unexpected end");
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> dict(depth);
                case '(' -> new PyTuple(sequence(')', depth));
                case '[' -> sequence(']', depth);
                case '\'', '"' -> string();
                default -> {
                    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) yield integer();
                    if (Character.isLetter(c)) yield word();
                    throw new IllegalArgumentException("unexpected " + charDesc() + " at offset " + pos);
                }
            };
        }

        private Map<Object, Object> dict(int depth) {
            pos++; // {
            Map<Object, Object> out = new LinkedHashMap<>();
            while (true) {
                skipWs();
                if (peek('}')) {
                    pos++;
                    return out;
                }
                Object key = value(depth + 1);
                if (key instanceof List<?> || key instanceof Map<?, ?>) throw new IllegalArgumentException("unhashable dict key");
                skipWs();
                expect(':');
                Object v = value(depth + 1);
                if (out.put(key, v) != null) throw new IllegalArgumentException("duplicate key " + key);
                skipWs();
                if (peek(',')) pos++;
                else if (!peek('}')) throw new IllegalArgumentException("expected ',' or '}' at offset " + pos + ", found " + charDesc());
            }
        }

        private List<Object> sequence(char close, int depth) {
            pos++; // ( or [
            List<Object> out = new ArrayList<>();
            while (true) {
                skipWs();
                if (peek(close)) {
                    pos++;
                    return out;
                }
                out.add(value(depth + 1));
                skipWs();
                if (peek(',')) pos++;
                else if (!peek(close)) throw new IllegalArgumentException("expected ',' or '" + close + "' at offset " + pos + ", found " + charDesc());
            }
        }

        private String string() {
            char quote = s.charAt(pos++);
            StringBuilder sb = new StringBuilder();
            while (pos < s.length()) {
                char c = s.charAt(pos++);
                if (c == quote) return sb.toString();
                if (c == '\\') {
                    if (pos >= s.length()) break;
                    char e = s.charAt(pos++);
                    sb.append(switch (e) {
                        case 'n' -> '\n';
                        case 't' -> '\t';
                        case 'r' -> '\r';
                        default -> e;
                    });
                } else if (c == '\n') {
                    throw new IllegalArgumentException("newline inside a string");
                } else {
                    sb.append(c);
                }
            }
            throw new IllegalArgumentException("unterminated string");
        }

        private Long integer() {
            int start = pos;
            if (peek('-') || peek('+')) pos++;
            int digits = pos;
            while (pos < s.length() && Character.isDigit(s.charAt(pos)) && s.charAt(pos) < 128) pos++;
            if (pos == digits) throw new IllegalArgumentException("malformed number at offset " + start);
            String num = s.substring(start, pos);
            if (pos < s.length() && (s.charAt(pos) == 'L' || s.charAt(pos) == 'l')) pos++; // Python 2 long
            if (pos - digits > 18) throw new IllegalArgumentException("integer " + num.substring(0, Math.min(num.length(), 24)) + "... is too large");
            return Long.parseLong(num.startsWith("+") ? num.substring(1) : num);
        }

        private Object word() {
            int start = pos;
            while (pos < s.length() && (Character.isLetterOrDigit(s.charAt(pos)) || s.charAt(pos) == '_')) pos++;
            String w = s.substring(start, pos);
            return switch (w) {
                case "True" -> Boolean.TRUE;
                case "False" -> Boolean.FALSE;
                case "None" -> "None";
                default -> throw new IllegalArgumentException("unexpected word '" + (w.length() > 20 ? w.substring(0, 20) + "..." : w) + "'");
            };
        }

        private void skipWs() {
            while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == '\n' || s.charAt(pos) == '\r')) pos++;
        }

        private boolean peek(char c) {
            return pos < s.length() && s.charAt(pos) == c;
        }

        private void expect(char c) {
            if (!peek(c)) throw new IllegalArgumentException("expected '" + c + "' at offset " + pos + ", found " + charDesc());
            pos++;
        }

        private String charDesc() {
            if (pos >= s.length()) return "end of header";
            char c = s.charAt(pos);
            return c >= 0x20 && c < 0x7f ? "'" + c + "'" : String.format("\\u%04x", (int) c);
        }
    }

    // ================================================================== reading .npz

    /** Reads every array of a {@code .npz} archive as float32 CPU tensors, in entry order, keyed without ".npy". */
    public static LinkedHashMap<String, Tensor> readNpz(Path file) {
        return readNpz(file, DType.FLOAT32);
    }

    /** Reads every array of a {@code .npz} archive as CPU tensors of the given type, in entry order. */
    public static LinkedHashMap<String, Tensor> readNpz(Path file, DType dtype) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Target t = dtype == DType.FLOAT64 ? Target.F64 : Target.F32;
        for (var e : readNpzArrays(file, t).entrySet()) out.put(e.getKey(), e.getValue().toTensor(dtype));
        return out;
    }

    /** Reads every array of a {@code .npz} archive keeping the stored kinds (see {@link Array}), in entry order. */
    public static LinkedHashMap<String, Array> readNpzArrays(Path file) {
        return readNpzArrays(file, null);
    }

    private static LinkedHashMap<String, Array> readNpzArrays(Path file, Target target) {
        String where = file.toString();
        if (!Files.isRegularFile(file)) {
            if (!Files.exists(file)) throw fail(where, "no such file");
            throw fail(where, "not a regular file");
        }
        long fileSize;
        try {
            fileSize = Files.size(file);
        } catch (IOException e) {
            throw ioFailure(where, "cannot read", e);
        }
        LinkedHashMap<String, Array> out = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(file.toFile())) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (e.isDirectory()) continue;
                String name = e.getName();
                String key = name.endsWith(".npy") ? name.substring(0, name.length() - 4) : name;
                String at = where + " (entry " + quote(name) + ")";
                if (out.containsKey(key)) throw fail(at, "duplicate entry");
                long size = e.getSize(), csize = e.getCompressedSize();
                if (size < 0) throw fail(at, "entry has no recorded size");
                if (csize > fileSize) throw fail(at, "compressed size " + csize + " exceeds the archive's size " + fileSize);
                if (e.getMethod() == ZipEntry.DEFLATED && csize >= 0 && size > csize * MAX_DEFLATE_RATIO + 4096)
                    throw fail(at, "implausible compression ratio (" + size + " bytes from " + csize + "): refusing a possible zip bomb");
                if (e.getMethod() == ZipEntry.STORED && csize >= 0 && csize != size)
                    throw fail(at, "stored entry with size " + size + " but compressed size " + csize);
                try (InputStream raw = zip.getInputStream(e); CheckedInputStream in = new CheckedInputStream(raw, new CRC32())) {
                    ReadableByteChannel ch = Channels.newChannel(in);
                    Array a = decode(ch, size, at, target);
                    if (in.read() != -1) throw fail(at, "entry holds more data than its recorded size " + size);
                    if (e.getCrc() != -1 && in.getChecksum().getValue() != e.getCrc())
                        throw fail(at, "corrupt entry: CRC-32 " + Long.toHexString(in.getChecksum().getValue())
                                + " does not match the recorded " + Long.toHexString(e.getCrc()));
                    out.put(key, a);
                } catch (ZipException ze) {
                    throw fail(at, "corrupt entry: " + oneLine(ze.getMessage()));
                }
            }
        } catch (GraftException e) {
            throw e;
        } catch (ZipException e) {
            throw fail(where, "not a valid .npz (zip) archive: " + oneLine(e.getMessage()));
        } catch (IOException e) {
            throw ioFailure(where, "cannot read", e);
        }
        return out;
    }

    // ================================================================== writing

    /** Writes a tensor as a {@code .npy} file ({@code <f4} for float32, {@code <f8} for float64), atomically. */
    public static void write(Path file, Tensor tensor) {
        atomicWrite(file, out -> encode(tensor, out));
    }

    /** Writes tensors as an uncompressed {@code .npz} archive (one {@code key.npy} entry each, in map order), atomically. */
    public static void writeNpz(Path file, Map<String, Tensor> arrays) {
        for (String k : arrays.keySet())
            if (k == null || k.isEmpty()) throw fail(file.toString(), "empty array name");
        atomicWrite(file, raw -> {
            ZipOutputStream zip = new ZipOutputStream(raw);
            for (var e : arrays.entrySet()) {
                Tensor t = e.getValue();
                CRC32 crc = new CRC32();
                long size = encode(t, new OutputStream() {
                    @Override public void write(int b) { crc.update(b); }
                    @Override public void write(byte[] b, int off, int len) { crc.update(b, off, len); }
                });
                ZipEntry ze = new ZipEntry(e.getKey() + ".npy");
                ze.setMethod(ZipEntry.STORED);
                ze.setSize(size);
                ze.setCompressedSize(size);
                ze.setCrc(crc.getValue());
                zip.putNextEntry(ze);
                encode(t, zip);
                zip.closeEntry();
            }
            zip.finish();
        });
    }

    /** The {@code .npy} bytes of a tensor (for small tensors and tests). */
    public static byte[] toBytes(Tensor tensor) {
        var bos = new java.io.ByteArrayOutputStream();
        try {
            encode(tensor, bos);
        } catch (IOException e) {
            throw new IllegalStateException(e); // in-memory streams do not fail
        }
        return bos.toByteArray();
    }

    /** Writes header and data; returns the number of bytes written. */
    private static long encode(Tensor tensor, OutputStream out) throws IOException {
        boolean f64 = tensor.dtype() == DType.FLOAT64;
        int[] shape = tensor.shape();
        byte[] header = header(f64 ? "<f8" : "<f4", shape);
        out.write(header);
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long written = header.length;
        if (f64) {
            double[] v = tensor.toDoubleArray();
            for (int i = 0; i < v.length; i += CHUNK / 8) {
                int n = Math.min(CHUNK / 8, v.length - i);
                buf.clear();
                buf.asDoubleBuffer().put(v, i, n);
                out.write(buf.array(), 0, n * 8);
                written += n * 8L;
            }
        } else {
            float[] v = tensor.toFloatArray();
            for (int i = 0; i < v.length; i += CHUNK / 4) {
                int n = Math.min(CHUNK / 4, v.length - i);
                buf.clear();
                buf.asFloatBuffer().put(v, i, n);
                out.write(buf.array(), 0, n * 4);
                written += n * 4L;
            }
        }
        return written;
    }

    /** Magic, version, length and the dict padded with spaces and a newline to a multiple of 64 bytes. */
    static byte[] header(String descr, int[] shape) {
        StringBuilder dims = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) dims.append(i == 0 ? "" : ", ").append(shape[i]);
        dims.append(shape.length == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + dims + ", }";
        int v1Prefix = MAGIC.length + 2 + 2;
        boolean v2 = v1Prefix + dict.length() + 1 > 0xFFFF;
        int prefix = v2 ? MAGIC.length + 2 + 4 : v1Prefix;
        int total = prefix + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        String text = dict + " ".repeat(padded - total) + "\n";
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) (v2 ? 2 : 1)).put((byte) 0);
        if (v2) b.putInt(text.length());
        else b.putShort((short) text.length());
        b.put(text.getBytes(StandardCharsets.ISO_8859_1));
        return b.array();
    }

    @FunctionalInterface
    private interface Writer {
        void write(OutputStream out) throws IOException;
    }

    /** Writes atomically ({@link AtomicFiles}); failures name the file. */
    private static void atomicWrite(Path file, Writer writer) {
        String where = file.toString();
        if (Files.isDirectory(file)) throw fail(where, "cannot write: it is a directory");
        try {
            AtomicFiles.write(file, writer::write);
        } catch (IOException e) {
            throw ioFailure(where, "cannot write", e);
        }
    }

    // ================================================================== helpers

    private static boolean startsWithMagic(byte[] b, int len) {
        if (len < MAGIC.length) return false;
        for (int i = 0; i < MAGIC.length; i++) if (b[i] != MAGIC[i]) return false;
        return true;
    }

    private static void readFully(ReadableByteChannel ch, ByteBuffer buf, String where, String what) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) throw fail(where, "truncated: the data ends inside " + what);
        }
    }

    private static void readUpTo(ReadableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining() && ch.read(buf) >= 0) {
            // keep reading
        }
    }

    private static String shapeStr(int[] shape) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) sb.append(i == 0 ? "" : ", ").append(shape[i]);
        return sb.append(shape.length == 1 ? ",)" : ")").toString();
    }

    private static String hex(byte[] b, int n) {
        HexFormat hf = HexFormat.ofDelimiter(" ");
        return hf.formatHex(b, 0, Math.min(n, b.length));
    }

    /** A file-derived string made safe for a one-line message: control characters escaped, at most 120 characters. */
    static String quote(String s) {
        StringBuilder sb = new StringBuilder("'");
        for (int i = 0; i < s.length() && sb.length() < 120; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029') sb.append(String.format("\\x%02x", (int) c & 0xff));
            else sb.append(c);
        }
        if (sb.length() >= 120) sb.append("...");
        return sb.append('\'').toString();
    }

    private static String oneLine(String s) {
        return s == null ? "unknown error" : s.replaceAll("[\\r\\n]+", " ");
    }

    private static GraftException fail(String where, String problem) {
        return new GraftException(oneLine(where + ": " + problem));
    }

    private static GraftException ioFailure(String where, String action, IOException e) {
        String why = switch (e) {
            case NoSuchFileException n -> "no such file";
            case AccessDeniedException a -> "permission denied";
            default -> oneLine(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        };
        return new GraftException(oneLine(where + ": " + action + ": " + why), e);
    }
}
