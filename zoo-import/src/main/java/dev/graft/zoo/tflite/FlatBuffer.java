package dev.graft.zoo.tflite;

import dev.graft.zoo.ImportException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A small bounds-checked reader of FlatBuffers binary data (little-endian tables, vtables, vectors and
 * strings), written for hostile input: every offset, vtable and vector length is checked against the
 * buffer before it is followed, and a failure is an {@link ImportException} naming the file, the
 * structure being read ({@code what}) and the offending offset. Nothing is allocated from a length
 * read from the file before that length has been checked against the bytes that are there.
 */
final class FlatBuffer {
    private final Path file;
    private final ByteBuffer buf;
    private final int size;

    FlatBuffer(Path file, ByteBuffer data) {
        this.file = file;
        this.buf = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        this.size = data.remaining();
        if (buf.position() != 0) throw new IllegalArgumentException("buffer must start at position 0");
    }

    Path file() {
        return file;
    }

    int size() {
        return size;
    }

    ImportException error(String what, String message) {
        return new ImportException(file, what + ": " + message);
    }

    /** The four bytes of the file identifier (offset 4..8), or null when the buffer is shorter. */
    String identifier() {
        if (size < 8) return null;
        byte[] id = new byte[4];
        buf.get(4, id);
        return new String(id, StandardCharsets.ISO_8859_1);
    }

    /** The root table, at the offset stored in the first four bytes. */
    Table root(String what) {
        if (size < 8) throw error(what, "file is " + size + " bytes, too short for a FlatBuffer header");
        long target = u32(0);
        return table(target, what);
    }

    // ------------------------------------------------------------------ raw reads (offsets checked by callers)

    private long u32(int pos) {
        return buf.getInt(pos) & 0xFFFFFFFFL;
    }

    private int u16(int pos) {
        return buf.getShort(pos) & 0xFFFF;
    }

    /** Checks that {@code [pos, pos + len)} lies in the buffer. */
    private void need(long pos, long len, String what, String item) {
        if (pos < 0 || len < 0 || pos + len > size)
            throw error(what, item + " at offset " + pos + " (" + len + " bytes) lies outside the " + size + "-byte file");
    }

    /** The table at absolute offset {@code pos}, with its vtable checked. */
    Table table(long pos, String what) {
        need(pos, 4, what, "table");
        int tpos = (int) pos;
        long vt = (long) tpos - buf.getInt(tpos);
        need(vt, 4, what, "vtable");
        int vtPos = (int) vt;
        int vtSize = u16(vtPos);
        int tableSize = u16(vtPos + 2);
        if (vtSize < 4 || (vtSize & 1) != 0) throw error(what, "vtable at offset " + vtPos + " has an invalid size " + vtSize);
        need(vtPos, vtSize, what, "vtable");
        if (tableSize < 4) throw error(what, "table at offset " + tpos + " has an invalid inline size " + tableSize);
        need(tpos, tableSize, what, "table");
        return new Table(tpos, vtPos, vtSize, tableSize, what);
    }

    /**
     * A table: absolute position, its vtable and inline size. Field accessors take the field's id (its
     * position in the schema, counting from 0) and return the default when the field is absent.
     */
    final class Table {
        final int pos;
        private final int vt;
        private final int vtSize;
        private final int tableSize;
        final String what;

        private Table(int pos, int vt, int vtSize, int tableSize, String what) {
            this.pos = pos;
            this.vt = vt;
            this.vtSize = vtSize;
            this.tableSize = tableSize;
            this.what = what;
        }

        /** Absolute position of a scalar field of {@code width} bytes, or −1 when absent. */
        private int field(int id, int width) {
            int slot = 4 + 2 * id;
            if (slot + 2 > vtSize) return -1;
            int off = u16(vt + slot);
            if (off == 0) return -1;
            if (off + width > tableSize)
                throw error(what, "field " + id + " at table offset " + off + " runs past the table's " + tableSize + " bytes");
            return pos + off;
        }

        /** Absolute position of field {@code id}, or −1 when absent (for tests that patch files). */
        int position(int id) {
            return field(id, 1);
        }

        boolean has(int id) {
            return field(id, 1) >= 0;
        }

        int getByte(int id, int fallback) {
            int p = field(id, 1);
            return p < 0 ? fallback : buf.get(p);
        }

        int getUByte(int id, int fallback) {
            int p = field(id, 1);
            return p < 0 ? fallback : buf.get(p) & 0xFF;
        }

        boolean getBool(int id, boolean fallback) {
            int p = field(id, 1);
            return p < 0 ? fallback : buf.get(p) != 0;
        }

        int getInt(int id, int fallback) {
            int p = field(id, 4);
            return p < 0 ? fallback : buf.getInt(p);
        }

        long getUInt(int id, long fallback) {
            int p = field(id, 4);
            return p < 0 ? fallback : u32(p);
        }

        long getLong(int id, long fallback) {
            int p = field(id, 8);
            return p < 0 ? fallback : buf.getLong(p);
        }

        float getFloat(int id, float fallback) {
            int p = field(id, 4);
            return p < 0 ? fallback : buf.getFloat(p);
        }

        /** Absolute target of the offset field {@code id}, or −1 when absent. */
        private long ref(int id, String item) {
            int p = field(id, 4);
            if (p < 0) return -1;
            long target = p + u32(p);
            need(target, 4, what, item);
            return target;
        }

        /** The sub-table in field {@code id}, or null. */
        Table getTable(int id, String item) {
            long t = ref(id, item);
            return t < 0 ? null : table(t, what + " " + item);
        }

        /** The vector in field {@code id} with elements of {@code elemSize} bytes, or null. */
        Vec getVector(int id, int elemSize, String item) {
            long t = ref(id, item);
            return t < 0 ? null : vector(t, elemSize, what + " " + item);
        }

        /** The string in field {@code id} (UTF-8), or null. */
        String getString(int id, String item) {
            Vec v = getVector(id, 1, item);
            if (v == null) return null;
            byte[] b = new byte[v.length];
            buf.get(v.start, b);
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    private Vec vector(long pos, int elemSize, String what) {
        need(pos, 4, what, "vector length");
        long n = u32((int) pos);
        long bytes = n * elemSize;
        if (pos + 4 + bytes > size)
            throw error(what, "vector at offset " + pos + " claims " + n + " elements of " + elemSize + " bytes, past the end of the "
                    + size + "-byte file");
        return new Vec((int) pos + 4, (int) n, elemSize, what);
    }

    /** A vector: {@code length} elements of {@code elemSize} bytes from absolute position {@code start}. */
    final class Vec {
        final int start;
        final int length;
        private final int elemSize;
        final String what;

        private Vec(int start, int length, int elemSize, String what) {
            this.start = start;
            this.length = length;
            this.elemSize = elemSize;
            this.what = what;
        }

        private int at(int i) {
            if (i < 0 || i >= length) throw new IndexOutOfBoundsException(i);
            return start + i * elemSize;
        }

        int getInt(int i) {
            return buf.getInt(at(i));
        }

        long getLong(int i) {
            return buf.getLong(at(i));
        }

        float getFloat(int i) {
            return buf.getFloat(at(i));
        }

        int getByte(int i) {
            return buf.get(at(i));
        }

        /** Element {@code i} as an offset to a table. */
        Table getTable(int i, String item) {
            int p = at(i);
            long target = p + u32(p);
            return table(target, item);
        }

        int[] toIntArray() {
            int[] out = new int[length];
            for (int i = 0; i < length; i++) out[i] = getInt(i);
            return out;
        }

        float[] toFloatArray() {
            float[] out = new float[length];
            for (int i = 0; i < length; i++) out[i] = getFloat(i);
            return out;
        }

        long[] toLongArray() {
            long[] out = new long[length];
            for (int i = 0; i < length; i++) out[i] = getLong(i);
            return out;
        }
    }

    /** A read-only little-endian view of {@code length} bytes from {@code start} (checked). */
    ByteBuffer slice(long start, long length, String what) {
        need(start, length, what, "data");
        return buf.slice((int) start, (int) length).order(ByteOrder.LITTLE_ENDIAN);
    }
}
