package dev.graft.zoo.tflite;

/**
 * Constants of the TFLite FlatBuffer schema ({@code tensorflow/lite/schema/schema.fbs}): field ids of
 * the tables this importer reads, tensor types and builtin operator codes.
 */
final class TfliteSchema {
    private TfliteSchema() {}

    // Model
    static final int MODEL_VERSION = 0, MODEL_OPERATOR_CODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3, MODEL_BUFFERS = 4;
    // OperatorCode
    static final int OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3;
    // SubGraph
    static final int SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2, SUBGRAPH_OPERATORS = 3, SUBGRAPH_NAME = 4;
    // Tensor
    static final int TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANTIZATION = 4, TENSOR_SPARSITY = 6;
    // QuantizationParameters
    static final int QUANT_MIN = 0, QUANT_MAX = 1, QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DETAILS_TYPE = 4, QUANT_DIMENSION = 6;
    // Operator
    static final int OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4;
    // Buffer
    static final int BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2;

    /** Builtin operator codes the graph builder handles. */
    static final int ADD = 0, AVERAGE_POOL_2D = 1, CONCATENATION = 2, CONV_2D = 3, DEPTHWISE_CONV_2D = 4, DEQUANTIZE = 6,
            FULLY_CONNECTED = 9, LOGISTIC = 14, MAX_POOL_2D = 17, MUL = 18, RELU = 19, RELU_N1_TO_1 = 20, RELU6 = 21, RESHAPE = 22,
            SOFTMAX = 25, TANH = 28, CUSTOM = 32, PAD = 34, MEAN = 40, SUB = 41, DIV = 42, SQUEEZE = 43, QUANTIZE = 114,
            HARD_SWISH = 117;

    /** Fused activation function codes. */
    static final int ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3, ACT_TANH = 4, ACT_SIGN_BIT = 5;

    /** Padding codes. */
    static final int PADDING_SAME = 0, PADDING_VALID = 1;

    private static final String[] OP_NAMES = ("ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE "
            + "EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION LOGISTIC "
            + "LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH "
            + "CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND "
            + "SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP "
            + "TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER "
            + "GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT "
            + "RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK "
            + "REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU "
            + "SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE "
            + "MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND "
            + "SELECT_V2 DENSIFY SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D "
            + "IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL CONV_3D_TRANSPOSE VAR_HANDLE "
            + "READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU "
            + "DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 "
            + "UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT").split(" ");

    /** The schema's name of a builtin operator code ({@code BUILTIN_<code>} for codes this table does not know). */
    static String opName(int code) {
        return code >= 0 && code < OP_NAMES.length ? OP_NAMES[code] : "BUILTIN_" + code;
    }

    /** TFLite tensor element types, by their schema code. */
    enum TensorType {
        FLOAT32("F32", 4), FLOAT16("F16", 2), INT32("I32", 4), UINT8("U8", 1), INT64("I64", 8), STRING("STRING", 0), BOOL("BOOL", 1),
        INT16("I16", 2), COMPLEX64("C64", 8), INT8("I8", 1), FLOAT64("F64", 8), COMPLEX128("C128", 16), UINT64("U64", 8),
        RESOURCE("RESOURCE", 0), VARIANT("VARIANT", 0), UINT32("U32", 4), UINT16("U16", 2), INT4("I4", 0), BFLOAT16("BF16", 2);

        /** The dtype name used in {@link dev.graft.zoo.TensorInfo}. */
        final String dtype;
        /** Bytes per element; 0 where the size is not fixed (strings, resources) or packed (int4). */
        final int bytes;

        TensorType(String dtype, int bytes) {
            this.dtype = dtype;
            this.bytes = bytes;
        }

        static TensorType of(int code) {
            TensorType[] all = values();
            return code >= 0 && code < all.length ? all[code] : null;
        }

        /** Bytes needed by {@code numel} elements, or −1 when not fixed. */
        long byteSize(long numel) {
            if (this == INT4) return (numel + 1) / 2;
            return bytes == 0 ? -1 : numel * bytes;
        }

        boolean isQuantizedInteger() {
            return this == UINT8 || this == INT8 || this == INT16 || this == INT32 || this == INT64;
        }
    }
}
