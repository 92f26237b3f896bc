package dev.graft.zoo;

import dev.graft.graph.GraphModule;
import dev.graft.models.Preprocessing;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An opened weight or model file of any supported format. Opening reads and checks the header or
 * schema only; tensor data is read (bounded, checked against the file size) when asked for.
 * Implementations: safetensors, PyTorch zip checkpoints, TFLite flatbuffers, ONNX protobuf.
 */
public interface ModelFile {
    /** The file this was opened from. */
    Path path();

    /** The format's short name: {@code safetensors}, {@code pytorch}, {@code tflite} or {@code onnx}. */
    String format();

    /** The stored tensors (name, stored dtype, shape) in file order, without reading their data. */
    List<TensorInfo> tensors();

    /**
     * The weights as float32 tensors by name (dequantized where the file stores integers; integer
     * bookkeeping tensors such as {@code num_batches_tracked} are left out). For a state-dict file
     * the names are its keys; for a graph file they are the parameter names of {@link #graph()}.
     */
    Map<String, Tensor> stateDict();

    /** The network the file describes, with its weights loaded, for formats that hold a graph. */
    default Optional<GraphModule> graph() {
        return Optional.empty();
    }

    /** The preprocessing the file's model expects, where the file says it. */
    default Optional<Preprocessing> preprocessing() {
        return Optional.empty();
    }

    /** A human-readable multi-line description for {@code graft inspect}: format, tensors or graph summary. */
    String describe();
}
