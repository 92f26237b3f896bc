package dev.graft.zoo;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A <a href="https://github.com/huggingface/safetensors">safetensors</a> file: an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian data, which is memory-mapped.
 *
 * <p>{@link #read(Path)} checks the whole header before anything else is allocated: the header length
 * against the file size and {@link #MAX_HEADER_BYTES}, every dtype, every shape (non-negative, product
 * without overflow), every byte range (inside the data, matching the shape, not overlapping another).
 * Floating-point tensors (F32, F16, BF16, F64) go to {@link #stateDict()} as float32; integer and
 * boolean tensors (I64, I32, I16, I8, U8, BOOL, …, such as {@code num_batches_tracked}) are listed by
 * {@link #tensors()} only.
 */
public final class SafetensorsFile implements ModelFile {
    /** The largest JSON header accepted (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private record Entry(TensorInfo info, long begin, long end) {}

    private final Path path;
    private final Map<String, String> metadata;
    private final List<Entry> entries;
    private final MemorySegment data;

    private SafetensorsFile(Path path, Map<String, String> metadata, List<Entry> entries, MemorySegment data) {
        this.path = path;
        this.metadata = metadata;
        this.entries = entries;
        this.data = data;
    }

    /**
     * Opens and checks a safetensors file, mapping its data region.
     *
     * @throws ImportException naming the file (and the tensor) when it is unreadable or malformed
     */
    public static SafetensorsFile read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) throw new ImportException(file, "empty file, not a safetensors file");
            if (size < 8) throw new ImportException(file, "truncated: " + size + " bytes, too short for a safetensors header length");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > size - 8)
                throw new ImportException(file, "bad safetensors header length " + Long.toUnsignedString(headerLen)
                        + " (file has " + size + " bytes, the limit is " + MAX_HEADER_BYTES + ")");
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8);
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> entries = parseHeader(file, header.array(), dataLen, metadata);
            MemorySegment data = dataLen == 0 ? MemorySegment.NULL
                    : ch.map(FileChannel.MapMode.READ_ONLY, dataStart, dataLen, Arena.ofAuto());
            return new SafetensorsFile(file, Collections.unmodifiableMap(metadata), entries, data);
        } catch (NoSuchFileException e) {
            throw new ImportException(file, "no such file");
        } catch (IOException e) {
            throw new ImportException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, position + buf.position());
            if (n < 0) throw new IOException("unexpected end of file");
        }
    }

    private static List<Entry> parseHeader(Path file, byte[] bytes, long dataLen, Map<String, String> metadata) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ImportException(file, "safetensors header is not valid UTF-8");
        }
        if (!text.startsWith("{")) throw new ImportException(file, "safetensors header does not start with '{' (not a safetensors file?)");
        JsonNode root;
        try {
            root = JSON.readTree(text.stripTrailing());
        } catch (JsonProcessingException e) {
            throw new ImportException(file, "safetensors header is not valid JSON: " + oneLine(e.getOriginalMessage()));
        }
        if (root == null || !root.isObject()) throw new ImportException(file, "safetensors header is not a JSON object");
        List<Entry> entries = new ArrayList<>();
        for (var field : root.properties()) {
            String name = field.getKey();
            JsonNode v = field.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new ImportException(file, "__metadata__ is not an object");
                for (var m : v.properties()) {
                    if (!m.getValue().isTextual()) throw new ImportException(file, "__metadata__ value for '" + m.getKey() + "' is not a string");
                    metadata.put(m.getKey(), m.getValue().asText());
                }
                continue;
            }
            entries.add(parseEntry(file, name, v, dataLen));
        }
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        Entry prev = null;
        for (Entry e : byOffset) {
            if (prev != null && e.begin < prev.end && e.end > e.begin)
                throw new ImportException(file, "tensor '" + e.info.name() + "' bytes [" + e.begin + ", " + e.end + ") overlap tensor '"
                        + prev.info.name() + "' bytes [" + prev.begin + ", " + prev.end + ")");
            if (e.end > e.begin) prev = e;
        }
        return List.copyOf(byOffset);
    }

    private static Entry parseEntry(Path file, String name, JsonNode v, long dataLen) {
        String what = "tensor '" + name + "'";
        if (!v.isObject()) throw new ImportException(file, what + ": header entry is not an object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new ImportException(file, what + ": missing or non-string dtype");
        String dtype = dt.asText();
        int elem = Dtypes.size(dtype);
        if (elem < 0) throw new ImportException(file, what + ": unknown dtype '" + oneLine(dtype) + "'");
        if (sh == null || !sh.isArray()) throw new ImportException(file, what + ": missing or non-array shape");
        if (sh.size() > 64) throw new ImportException(file, what + ": rank " + sh.size() + " is too large");
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong()) throw new ImportException(file, what + ": shape " + oneLine(sh.toString()) + " has a non-integer dimension");
            shape[i] = d.asLong();
            if (shape[i] < 0) throw new ImportException(file, what + ": shape " + Arrays.toString(shape) + " has a negative dimension");
        }
        long numel = Dtypes.numel(shape);
        if (numel < 0) throw new ImportException(file, what + ": shape " + Arrays.toString(shape) + " overflows (too many elements)");
        if (numel > Dtypes.MAX_ELEMENTS) throw new ImportException(file, what + ": " + numel + " elements, more than a Graft tensor holds");
        for (long d : shape)
            if (d > Integer.MAX_VALUE) throw new ImportException(file, what + ": dimension " + d + " does not fit an int");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
            throw new ImportException(file, what + ": data_offsets must be two integers");
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLen)
            throw new ImportException(file, what + ": data_offsets [" + begin + ", " + end + "] outside the " + dataLen + "-byte data region");
        long bytes = numel * elem; // numel <= 2^31, elem <= 8: no overflow
        if (end - begin != bytes)
            throw new ImportException(file, what + ": data_offsets [" + begin + ", " + end + "] hold " + (end - begin) + " bytes, but " + dtype
                    + " " + Arrays.toString(shape) + " needs " + bytes);
        int[] ishape = new int[shape.length];
        for (int i = 0; i < shape.length; i++) ishape[i] = (int) shape[i];
        return new Entry(new TensorInfo(name, dtype, ishape), begin, end);
    }

    static String oneLine(String s) {
        if (s == null) return "";
        String t = s.replaceAll("[\\r\\n\\t]+", " ").strip();
        return t.length() > 200 ? t.substring(0, 200) + "…" : t;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String format() {
        return "safetensors";
    }

    /** The header's {@code __metadata__} string map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor, floats and integers, in data order. */
    @Override
    public List<TensorInfo> tensors() {
        List<TensorInfo> out = new ArrayList<>(entries.size());
        for (Entry e : entries) out.add(e.info);
        return out;
    }

    /** The floating-point tensors as float32, in data order; integer and boolean tensors are left out. */
    @Override
    public Map<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (Entry e : entries) {
            if (!Dtypes.isFloat(e.info.dtype())) continue;
            int[] shape = e.info.shape();
            int n = (int) e.info.numel();
            float[] values = n == 0 ? new float[0] : Dtypes.readContiguous(data, e.begin, e.info.dtype(), n);
            out.put(e.info.name(), Dtypes.tensor(values, shape));
        }
        return out;
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder();
        long floats = entries.stream().filter(e -> Dtypes.isFloat(e.info.dtype())).count();
        long elements = entries.stream().mapToLong(e -> e.info.numel()).sum();
        sb.append(path.getFileName()).append(": safetensors, ").append(entries.size()).append(" tensors (").append(floats)
                .append(" floating point), ").append(elements).append(" elements\n");
        if (!metadata.isEmpty()) sb.append("metadata: ").append(metadata).append('\n');
        for (Entry e : entries) sb.append("  ").append(e.info).append('\n');
        return sb.toString();
    }
}
