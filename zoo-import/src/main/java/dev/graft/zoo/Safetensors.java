package dev.graft.zoo;

import dev.graft.io.AtomicFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Reading and writing safetensors files. */
public final class Safetensors {
    private Safetensors() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Opens a safetensors file; the same as {@link SafetensorsFile#read(Path)}. */
    public static SafetensorsFile read(Path file) {
        return SafetensorsFile.read(file);
    }

    /**
     * Writes {@code tensors} as float32 to a safetensors file that the Python {@code safetensors}
     * package reads: tensors sorted by name (the Python writer's order for a single dtype), the JSON
     * header padded with spaces to a multiple of 8 bytes, {@code metadata} under {@code __metadata__}
     * (left out when empty). The file is written to a temporary file in the same directory and then
     * renamed over {@code file} ({@link AtomicFiles}), so readers never see a partial file.
     *
     * @throws GraftException if a name is empty or {@code __metadata__}, or writing fails
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<String> names = new ArrayList<>(tensors.keySet());
        names.sort(null);
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (String name : names) {
            if (name.isEmpty() || name.equals("__metadata__")) throw new GraftException(file.getFileName() + ": cannot write a tensor named '" + name + "'");
            Tensor t = tensors.get(name);
            ObjectNode e = header.putObject(name);
            e.put("dtype", "F32");
            var shape = e.putArray("shape");
            for (int d : t.shape()) shape.add(d);
            long bytes = 4L * t.numel();
            e.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new GraftException(file.getFileName() + ": cannot encode the safetensors header: " + e.getMessage(), e);
        }
        int padded = (json.length + 7) & ~7;
        try {
            AtomicFiles.write(file, out -> {
                ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
                head.putLong(padded).put(json);
                while (head.hasRemaining()) head.put((byte) ' ');
                out.write(head.array());
                ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (String name : names) {
                    float[] values = tensors.get(name).toFloatArray();
                    for (float v : values) {
                        if (buf.remaining() < 4) {
                            out.write(buf.array(), 0, buf.position());
                            buf.clear();
                        }
                        buf.putFloat(v);
                    }
                }
                out.write(buf.array(), 0, buf.position());
            });
        } catch (IOException e) {
            throw new GraftException(file.getFileName() + ": cannot write: " + e.getMessage(), e);
        }
    }
}
