package dev.graft.zoo;

import dev.graft.tensor.Tensor;
import dev.graft.zoo.Unpickler.StorageRef;
import dev.graft.zoo.Unpickler.TensorRef;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A PyTorch checkpoint in the zip format of {@code torch.save} (PyTorch 1.6 and later):
 * {@code <archive>/data.pkl} (the pickled object), {@code <archive>/data/<key>} (one entry per storage,
 * raw little-endian), {@code <archive>/byteorder} and {@code <archive>/version}.
 *
 * <p>The pickle is read by a restricted unpickler that executes nothing and resolves only an allowlist
 * of globals (tensor rebuilders, {@code torch.*Storage}, {@code collections.OrderedDict}); a checkpoint
 * that names any other global — a pickled {@code nn.Module}, or a hostile {@code os.system} — is refused.
 * The file may hold a bare state_dict or a checkpoint dict with the state dict under
 * {@code "state_dict"}, {@code "model_state_dict"} or {@code "model"} (other entries such as the epoch
 * or optimizer state are ignored). Shared storages, storage offsets and strided (non-contiguous) views
 * are honoured; every view is checked against its storage and every storage against its zip entry.
 * F32, F16, BF16 and F64 tensors go to {@link #stateDict()} as float32; integer tensors (such as
 * {@code num_batches_tracked}) are listed by {@link #tensors()} only.
 */
public final class PthFile implements ModelFile {
    /** The largest {@code data.pkl} accepted (state-dict pickles are a few hundred kilobytes). */
    public static final long MAX_PICKLE_BYTES = 64L * 1024 * 1024;

    /** The checkpoint keys under which a wrapped state dict is looked for, in order. */
    public static final List<String> WRAPPER_KEYS = List.of("state_dict", "model_state_dict", "model");

    private record Entry(TensorInfo info, TensorRef ref) {}

    private final Path path;
    private final String prefix;
    private final String wrapperKey;
    private final List<Entry> entries;
    private final int skipped;

    private PthFile(Path path, String prefix, String wrapperKey, List<Entry> entries, int skipped) {
        this.path = path;
        this.prefix = prefix;
        this.wrapperKey = wrapperKey;
        this.entries = entries;
        this.skipped = skipped;
    }

    /**
     * Opens a {@code torch.save} zip checkpoint: reads and unpickles {@code data.pkl}, finds the state
     * dict and checks every tensor against its storage entry (tensor data is read by {@link #stateDict()}).
     *
     * @throws ImportException naming the file (and tensor) when it is not a zip checkpoint, is
     *                         malformed or truncated, or refers to a global outside the allowlist
     */
    public static PthFile read(Path file) {
        long size;
        byte[] head = new byte[8];
        int headLen;
        try (InputStream in = Files.newInputStream(file)) {
            size = Files.size(file);
            headLen = in.readNBytes(head, 0, head.length);
        } catch (NoSuchFileException e) {
            throw new ImportException(file, "no such file");
        } catch (IOException e) {
            throw new ImportException(file, "cannot read: " + e.getMessage(), e);
        }
        if (size == 0) throw new ImportException(file, "empty file, not a PyTorch checkpoint");
        if (headLen >= 1 && (head[0] & 0xff) == 0x80)
            throw new ImportException(file, "legacy (non-zip) PyTorch serialization is not supported; re-save it with torch.save(obj, path) "
                    + "from PyTorch 1.6 or later (the default zip format)");
        if (headLen < 4 || head[0] != 'P' || head[1] != 'K' || head[2] != 3 || head[3] != 4)
            throw new ImportException(file, "not a PyTorch zip checkpoint (no zip signature; for legacy pickles or tar archives re-save with torch.save)");
        try (ZipFile zip = new ZipFile(file.toFile())) {
            String prefix = findPrefix(file, zip);
            checkByteOrder(file, zip, prefix);
            ZipEntry pkl = zip.getEntry(prefix + "data.pkl");
            byte[] pickle = readEntry(file, zip, pkl, MAX_PICKLE_BYTES, "data.pkl");
            Object root = Unpickler.load(file, pickle);
            return build(file, zip, prefix, root);
        } catch (ZipException e) {
            throw new ImportException(file, "corrupt zip archive: " + SafetensorsFile.oneLine(e.getMessage()));
        } catch (IOException e) {
            throw new ImportException(file, "cannot read: " + SafetensorsFile.oneLine(e.getMessage()), e);
        }
    }

    private static String findPrefix(Path file, ZipFile zip) {
        String found = null;
        var it = zip.entries();
        while (it.hasMoreElements()) {
            String name = it.nextElement().getName();
            if (!name.endsWith("/data.pkl")) continue;
            String prefix = name.substring(0, name.length() - "data.pkl".length());
            if (prefix.indexOf('/') != prefix.length() - 1) continue; // only <archive>/data.pkl
            if (found != null) throw new ImportException(file, "zip archive has more than one data.pkl (" + found + "data.pkl, " + name + ")");
            found = prefix;
        }
        if (found == null) throw new ImportException(file, "zip archive has no <archive>/data.pkl: not a torch.save checkpoint");
        return found;
    }

    private static void checkByteOrder(Path file, ZipFile zip, String prefix) throws IOException {
        ZipEntry e = zip.getEntry(prefix + "byteorder");
        if (e == null) return; // older writers omit it; they wrote little-endian
        String order = new String(readEntry(file, zip, e, 16, "byteorder"), StandardCharsets.US_ASCII).strip();
        if (!order.equals("little")) throw new ImportException(file, "byte order '" + SafetensorsFile.oneLine(order) + "' is not supported (only little)");
    }

    /** Reads a whole entry of at most {@code limit} bytes, checking its length against the directory. */
    private static byte[] readEntry(Path file, ZipFile zip, ZipEntry e, long limit, String what) throws IOException {
        long n = e.getSize();
        if (n > limit) throw new ImportException(file, what + " is " + n + " bytes, more than the limit of " + limit);
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes((int) Math.min(limit, n < 0 ? limit : n));
            if (n >= 0 && b.length != n) throw new ImportException(file, what + " is truncated: " + b.length + " of " + n + " bytes");
            if (n < 0 && in.read() >= 0) throw new ImportException(file, what + " is more than the limit of " + limit + " bytes");
            return b;
        }
    }

    private static PthFile build(Path file, ZipFile zip, String prefix, Object root) {
        if (!(root instanceof Map<?, ?> top))
            throw new ImportException(file, "the checkpoint is a " + Unpickler.typeName(root) + ", not a dict (state_dict)");
        Map<?, ?> state = null;
        String wrapper = null;
        if (hasTensors(top)) {
            state = top;
        } else {
            for (String k : WRAPPER_KEYS) {
                if (top.get(k) instanceof Map<?, ?> inner && hasTensors(inner)) {
                    state = inner;
                    wrapper = k;
                    break;
                }
            }
        }
        if (state == null) {
            List<String> keys = new ArrayList<>();
            for (Object k : top.keySet()) {
                if (keys.size() == 8) {
                    keys.add("…");
                    break;
                }
                keys.add(SafetensorsFile.oneLine(String.valueOf(k)));
            }
            throw new ImportException(file, "no state dict found: the top-level dict has keys " + keys
                    + " and holds no tensors, nor a dict of tensors under " + WRAPPER_KEYS);
        }
        List<Entry> entries = new ArrayList<>();
        int skipped = 0;
        Map<String, Long> checkedStorages = new HashMap<>();
        for (var e : state.entrySet()) {
            if (!(e.getValue() instanceof TensorRef ref)) {
                skipped++;
                continue;
            }
            if (!(e.getKey() instanceof String name)) throw new ImportException(file, "state dict has a non-string key of type " + Unpickler.typeName(e.getKey()));
            entries.add(new Entry(check(file, zip, prefix, name, ref, checkedStorages), ref));
        }
        return new PthFile(file, prefix, wrapper, List.copyOf(entries), skipped);
    }

    private static boolean hasTensors(Map<?, ?> m) {
        for (Object v : m.values()) if (v instanceof TensorRef) return true;
        return false;
    }

    /** Checks a view against its storage and the storage against its zip entry; returns its TensorInfo. */
    private static TensorInfo check(Path file, ZipFile zip, String prefix, String name, TensorRef ref, Map<String, Long> checked) {
        String what = "tensor '" + SafetensorsFile.oneLine(name) + "'";
        StorageRef s = ref.storage();
        int elem = Dtypes.size(s.dtype());
        if (!checked.containsKey(s.key())) {
            ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
            if (e == null) throw new ImportException(file, what + ": storage data/" + SafetensorsFile.oneLine(s.key()) + " is missing from the archive");
            long need;
            try {
                need = Math.multiplyExact(s.numel(), (long) elem);
            } catch (ArithmeticException x) {
                throw new ImportException(file, what + ": storage size " + s.numel() + " overflows");
            }
            if (e.getSize() != need)
                throw new ImportException(file, what + ": storage data/" + SafetensorsFile.oneLine(s.key()) + " has " + e.getSize() + " bytes, but "
                        + s.dtype() + "[" + s.numel() + "] needs " + need);
            if (need > Integer.MAX_VALUE - 8) throw new ImportException(file, what + ": storage of " + need + " bytes is too large");
            checked.put(s.key(), need);
        }
        long[] size = ref.size(), stride = ref.stride();
        long numel = Dtypes.numel(size);
        if (numel < 0) throw new ImportException(file, what + ": shape " + Arrays.toString(size) + " is negative or overflows");
        if (numel > Dtypes.MAX_ELEMENTS) throw new ImportException(file, what + ": " + numel + " elements, more than a Graft tensor holds");
        if (ref.offset() < 0) throw new ImportException(file, what + ": negative storage offset " + ref.offset());
        int[] shape = new int[size.length];
        long last = ref.offset();
        try {
            for (int i = 0; i < size.length; i++) {
                if (size[i] > Integer.MAX_VALUE) throw new ImportException(file, what + ": dimension " + size[i] + " does not fit an int");
                shape[i] = (int) size[i];
                if (stride[i] < 0) throw new ImportException(file, what + ": negative stride " + Arrays.toString(stride));
                if (size[i] > 0) last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
            }
        } catch (ArithmeticException x) {
            throw new ImportException(file, what + ": strides " + Arrays.toString(stride) + " overflow");
        }
        if (numel > 0 && last >= s.numel())
            throw new ImportException(file, what + ": view (offset " + ref.offset() + ", shape " + Arrays.toString(size) + ", stride "
                    + Arrays.toString(stride) + ") reaches element " + last + " of a storage of " + s.numel());
        return new TensorInfo(name, s.dtype(), shape);
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String format() {
        return "pytorch";
    }

    /** The checkpoint key the state dict was found under ({@code "state_dict"}, …), or null for a bare state dict. */
    public String wrapperKey() {
        return wrapperKey;
    }

    /** Every tensor of the state dict (floats and integers) in the file's key order. */
    @Override
    public List<TensorInfo> tensors() {
        List<TensorInfo> out = new ArrayList<>(entries.size());
        for (Entry e : entries) out.add(e.info);
        return out;
    }

    /**
     * Reads the floating-point tensors as contiguous float32 in key order (integer tensors are left out).
     *
     * @throws ImportException if the archive changed or cannot be read since it was opened
     */
    @Override
    public Map<String, Tensor> stateDict() {
        Map<String, Integer> uses = new HashMap<>();
        for (Entry e : entries) if (Dtypes.isFloat(e.info.dtype())) uses.merge(e.ref.storage().key(), 1, Integer::sum);
        Map<String, MemorySegment> cache = new HashMap<>();
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(path.toFile())) {
            for (Entry e : entries) {
                if (!Dtypes.isFloat(e.info.dtype())) continue;
                StorageRef s = e.ref.storage();
                MemorySegment seg = cache.get(s.key());
                if (seg == null) {
                    ZipEntry ze = zip.getEntry(prefix + "data/" + s.key());
                    long need = s.numel() * Dtypes.size(s.dtype());
                    if (ze == null || ze.getSize() != need) throw new ImportException(path, "tensor '" + e.info.name() + "': storage changed since the file was opened");
                    seg = MemorySegment.ofArray(readEntry(path, zip, ze, need, "storage data/" + s.key()));
                    if (uses.get(s.key()) > 1) cache.put(s.key(), seg);
                }
                out.put(e.info.name(), Dtypes.tensor(gather(seg, s.dtype(), e.ref), e.info.shape()));
                if (uses.merge(s.key(), -1, Integer::sum) == 0) cache.remove(s.key());
            }
        } catch (ZipException x) {
            throw new ImportException(path, "corrupt zip archive: " + SafetensorsFile.oneLine(x.getMessage()));
        } catch (IOException x) {
            throw new ImportException(path, "cannot read: " + SafetensorsFile.oneLine(x.getMessage()), x);
        }
        return out;
    }

    /** Copies a (possibly strided) view out of a storage into a contiguous float array. */
    private static float[] gather(MemorySegment seg, String dtype, TensorRef ref) {
        long[] size = ref.size(), stride = ref.stride();
        int n = (int) Dtypes.numel(size);
        if (n == 0) return new float[0];
        int elem = Dtypes.size(dtype);
        boolean contiguous = true;
        long expect = 1;
        for (int d = size.length - 1; d >= 0; d--) {
            if (size[d] != 1 && stride[d] != expect) contiguous = false;
            expect *= size[d];
        }
        if (contiguous) return Dtypes.readContiguous(seg, ref.offset() * elem, dtype, n);
        float[] out = new float[n];
        int rank = size.length;
        long[] idx = new long[rank];
        long at = ref.offset();
        for (int i = 0; i < n; i++) {
            out[i] = Dtypes.read(seg, 0, dtype, at);
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < size[d]) {
                    at += stride[d];
                    break;
                }
                at -= (size[d] - 1) * stride[d];
                idx[d] = 0;
            }
        }
        return out;
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder();
        long floats = entries.stream().filter(e -> Dtypes.isFloat(e.info.dtype())).count();
        long elements = entries.stream().mapToLong(e -> e.info.numel()).sum();
        long storages = entries.stream().map(e -> e.ref.storage().key()).distinct().count();
        sb.append(path.getFileName()).append(": pytorch zip checkpoint (archive '").append(prefix, 0, prefix.length() - 1).append("'), ")
                .append(wrapperKey == null ? "bare state_dict" : "state dict under '" + wrapperKey + "'").append(", ")
                .append(entries.size()).append(" tensors (").append(floats).append(" floating point) in ").append(storages)
                .append(" storages, ").append(elements).append(" elements");
        if (skipped > 0) sb.append(", ").append(skipped).append(" non-tensor entries ignored");
        sb.append('\n');
        for (Entry e : entries) sb.append("  ").append(e.info).append('\n');
        return sb.toString();
    }

}
