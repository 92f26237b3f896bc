package dev.graft.zoo.tflite;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A tiny FlatBuffers writer for tests: tables with scalar and offset fields, scalar and table vectors,
 * strings. Objects are laid out front to back (vtable, table, then children), so every offset points
 * forward as the format requires.
 */
final class FbBuilder {
    private FbBuilder() {}

    sealed interface Node permits Table, Vec, Str {}

    /** A table under construction; fields by schema id. */
    static final class Table implements Node {
        final Map<Integer, Object> fields = new TreeMap<>();

        Table i8(int id, int v) { fields.put(id, new byte[] {(byte) v}); return this; }
        Table i32(int id, int v) { fields.put(id, le(4).putInt(v).array()); return this; }
        Table f32(int id, float v) { fields.put(id, le(4).putFloat(v).array()); return this; }
        Table i64(int id, long v) { fields.put(id, le(8).putLong(v).array()); return this; }
        Table ref(int id, Node n) { fields.put(id, n); return this; }
    }

    record Vec(byte[] scalars, List<Node> refs) implements Node {}

    record Str(String s) implements Node {}

    static Table table() {
        return new Table();
    }

    static Vec ints(int... v) {
        ByteBuffer b = le(4 * v.length);
        for (int x : v) b.putInt(x);
        return new Vec(withLength(v.length, b.array()), null);
    }

    static Vec floats(float... v) {
        ByteBuffer b = le(4 * v.length);
        for (float x : v) b.putFloat(x);
        return new Vec(withLength(v.length, b.array()), null);
    }

    static Vec longs(long... v) {
        ByteBuffer b = le(8 * v.length);
        for (long x : v) b.putLong(x);
        return new Vec(withLength(v.length, b.array()), null);
    }

    static Vec bytes(byte[] v) {
        return new Vec(withLength(v.length, v), null);
    }

    static Vec tables(List<? extends Node> items) {
        return new Vec(null, List.copyOf(items));
    }

    static Str string(String s) {
        return new Str(s);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] withLength(int n, byte[] body) {
        return le(4 + body.length).putInt(n).put(body).array();
    }

    /** The finished buffer: root offset, 4-byte identifier, then the objects. */
    static byte[] finish(Table root, String identifier) {
        Writer w = new Writer();
        w.bytes(new byte[4]);
        w.bytes(identifier.getBytes(StandardCharsets.US_ASCII));
        int pos = w.write(root);
        w.patch(0, pos);
        return w.toByteArray();
    }

    private static final class Writer {
        private byte[] buf = new byte[1024];
        private int size;

        void bytes(byte[] b) {
            ensure(size + b.length);
            System.arraycopy(b, 0, buf, size, b.length);
            size += b.length;
        }

        void align(int n) {
            while (size % n != 0) bytes(new byte[1]);
        }

        void ensure(int n) {
            if (n > buf.length) buf = java.util.Arrays.copyOf(buf, Math.max(n, buf.length * 2));
        }

        void patch(int at, int value) {
            ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).putInt(at, value);
        }

        int write(Node n) {
            return switch (n) {
                case Table t -> writeTable(t);
                case Vec v -> writeVec(v);
                case Str s -> {
                    align(4);
                    int pos = size;
                    byte[] b = s.s().getBytes(StandardCharsets.UTF_8);
                    bytes(withLength(b.length, b));
                    bytes(new byte[1]);
                    yield pos;
                }
            };
        }

        private int writeTable(Table t) {
            int maxId = t.fields.isEmpty() ? -1 : ((TreeMap<Integer, Object>) t.fields).lastKey();
            // inline layout: soffset, then each field at a position aligned to its width
            int[] offsets = new int[maxId + 1];
            int inline = 4;
            for (var e : t.fields.entrySet()) {
                int width = e.getValue() instanceof byte[] b ? b.length : 4;
                inline = (inline + width - 1) / width * width;
                offsets[e.getKey()] = inline;
                inline += width;
            }
            align(2);
            int vt = size;
            ByteBuffer v = le(4 + 2 * offsets.length);
            v.putShort((short) (4 + 2 * offsets.length)).putShort((short) inline);
            for (int o : offsets) v.putShort((short) o);
            bytes(v.array());
            align(8);
            int pos = size;
            byte[] body = new byte[inline];
            ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).putInt(0, pos - vt);
            for (var e : t.fields.entrySet())
                if (e.getValue() instanceof byte[] b) System.arraycopy(b, 0, body, offsets[e.getKey()], b.length);
            bytes(body);
            for (var e : t.fields.entrySet())
                if (e.getValue() instanceof Node child) {
                    int field = pos + offsets[e.getKey()];
                    int c = write(child);
                    patch(field, c - field);
                }
            return pos;
        }

        private int writeVec(Vec v) {
            if (v.scalars() != null) {
                // element data 8-aligned (for longs): the 4-byte length sits just before an aligned start
                while ((size + 4) % 8 != 0) bytes(new byte[1]);
                int pos = size;
                bytes(v.scalars());
                return pos;
            }
            align(4);
            int pos = size;
            ByteBuffer head = le(4 + 4 * v.refs().size()).putInt(v.refs().size());
            bytes(head.array());
            List<Integer> slots = new ArrayList<>();
            for (int i = 0; i < v.refs().size(); i++) slots.add(pos + 4 + 4 * i);
            for (int i = 0; i < v.refs().size(); i++) {
                int c = write(v.refs().get(i));
                patch(slots.get(i), c - slots.get(i));
            }
            return pos;
        }

        byte[] toByteArray() {
            return java.util.Arrays.copyOf(buf, size);
        }
    }
}
