package dev.graft.zoo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Builders of small (often hostile) safetensors files, pickles and torch.save-style zips for tests. */
final class TestFiles {
    private TestFiles() {}

    /** A safetensors file from a raw header string and data bytes; the length prefix is the header's. */
    static byte[] safetensors(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return safetensors(h.length, h, data);
    }

    static byte[] safetensors(long declaredHeaderLength, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredHeaderLength).put(header).put(data);
        return b.array();
    }

    static Path write(Path dir, String name, byte[] content) {
        try {
            Path p = dir.resolve(name);
            Files.write(p, content);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A zip laid out like torch.save's: archive/data.pkl, archive/byteorder, archive/data/KEY. */
    static byte[] torchZip(byte[] pickle, Map<String, byte[]> storages, String byteorder) {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data.pkl", pickle);
        if (byteorder != null) entries.put("archive/byteorder", byteorder.getBytes(StandardCharsets.US_ASCII));
        storages.forEach((k, v) -> entries.put("archive/data/" + k, v));
        entries.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        return zip(entries);
    }

    static byte[] zip(Map<String, byte[]> entries) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(bytes)) {
            for (var e : entries.entrySet()) {
                ZipEntry ze = new ZipEntry(e.getKey());
                ze.setMethod(ZipEntry.STORED);
                ze.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                ze.setCrc(crc.getValue());
                z.putNextEntry(ze);
                z.write(e.getValue());
                z.closeEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    /** A minimal pickle writer (protocol 2 opcodes) for hand-made checkpoints. */
    static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pickle() {
            op(0x80).op(2);
        }

        Pickle op(int b) {
            out.write(b);
            return this;
        }

        Pickle raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        Pickle str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            return le32(b.length).raw(b);
        }

        Pickle le32(int v) {
            return op(v & 0xff).op((v >>> 8) & 0xff).op((v >>> 16) & 0xff).op((v >>> 24) & 0xff);
        }

        Pickle integer(long v) {
            if (v >= 0 && v < 256) return op('K').op((int) v);
            if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) return op('J').le32((int) v);
            op(0x8a).op(8);
            for (int i = 0; i < 8; i++) op((int) (v >>> (8 * i)) & 0xff);
            return this;
        }

        Pickle global(String module, String name) {
            op('c');
            return raw((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8));
        }

        Pickle tuple(long... v) {
            op('(');
            for (long x : v) integer(x);
            return op('t');
        }

        /** Pushes {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}. */
        Pickle tensor(String storageType, String key, long storageNumel, long offset, long[] size, long[] stride) {
            global("torch._utils", "_rebuild_tensor_v2");
            op('(');
            op('(').str("storage").global("torch", storageType).str(key).str("cpu").integer(storageNumel).op('t').op('Q');
            integer(offset).tuple(size).tuple(stride).op(0x89);
            global("collections", "OrderedDict").op(')').op('R');
            op('t').op('R');
            return this;
        }

        /** A one-entry state dict {name: tensor}. */
        static byte[] stateDict(String name, String storageType, String key, long storageNumel, long offset, long[] size, long[] stride) {
            return new Pickle().op('}').str(name).tensor(storageType, key, storageNumel, offset, size, stride).op('s').op('.').bytes();
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
