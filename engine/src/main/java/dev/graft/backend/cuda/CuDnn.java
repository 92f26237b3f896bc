package dev.graft.backend.cuda;

import dev.graft.backend.ConvGeometry;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * cuDNN (9, or 8) bound through java.lang.foreign, for the CUDA backend's dense and grouped
 * convolutions: one handle on the backend's stream, NCHW float descriptors, the heuristics'
 * algorithm choice and the three convolution calls. JCudnn is not used: its published Java classes
 * stop at cuDNN 8.4 (see docs/GPU.md).
 *
 * <p>Per geometry and precision a {@link Plan} keeps the descriptors and, per pass, the chosen
 * algorithm and its workspace size (least recently used plans are destroyed beyond
 * {@link #MAX_PLANS}). The algorithm is the heuristics' first deterministic one that succeeded
 * within {@link #WORKSPACE_LIMIT}, else their first that succeeded within it; its workspace comes
 * from the backend's caching allocator for the call. The heuristics are asked under
 * {@code CUDNN_DEFAULT_MATH} (TF32 allowed on Ampere and newer, PyTorch's {@code allow_tf32}) or
 * {@code CUDNN_FMA_MATH} (full FP32); the chosen algorithm then runs with the math type they report
 * for it, as PyTorch does (FP32 stays {@code CUDNN_FMA_MATH}).
 *
 * <p>Signatures and enum values are those of cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h (cuDNN 9;
 * the same in cuDNN 8's cudnn_ops_infer.h / cudnn_cnn_infer.h): {@code CUDNN_DATA_FLOAT = 0},
 * {@code CUDNN_TENSOR_NCHW = 0}, {@code CUDNN_CROSS_CORRELATION = 1}, {@code CUDNN_DEFAULT_MATH = 0},
 * {@code CUDNN_FMA_MATH = 3}, {@code CUDNN_DETERMINISTIC = 1}, {@code CUDNN_STATUS_SUCCESS = 0}
 * (other status codes differ between 8 and 9, so they are named by cudnnGetErrorString). Calls on
 * the one handle are synchronized.
 */
final class CuDnn {
    static final int CUDNN_DATA_FLOAT = 0;
    static final int CUDNN_TENSOR_NCHW = 0;
    static final int CUDNN_CROSS_CORRELATION = 1;
    static final int CUDNN_DEFAULT_MATH = 0;
    static final int CUDNN_FMA_MATH = 3;
    static final int CUDNN_DETERMINISTIC = 1;

    /** cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t: the three share this layout (48 bytes). */
    static final StructLayout PERF = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("algo"),
            ValueLayout.JAVA_INT.withName("status"),
            ValueLayout.JAVA_FLOAT.withName("time"),
            MemoryLayout.paddingLayout(4),
            ValueLayout.JAVA_LONG.withName("memory"),
            ValueLayout.JAVA_INT.withName("determinism"),
            ValueLayout.JAVA_INT.withName("mathType"),
            MemoryLayout.sequenceLayout(3, ValueLayout.JAVA_INT).withName("reserved"),
            MemoryLayout.paddingLayout(4));
    static final long PERF_ALGO = PERF.byteOffset(MemoryLayout.PathElement.groupElement("algo"));
    static final long PERF_STATUS = PERF.byteOffset(MemoryLayout.PathElement.groupElement("status"));
    static final long PERF_MEMORY = PERF.byteOffset(MemoryLayout.PathElement.groupElement("memory"));
    static final long PERF_DETERMINISM = PERF.byteOffset(MemoryLayout.PathElement.groupElement("determinism"));
    static final long PERF_MATH = PERF.byteOffset(MemoryLayout.PathElement.groupElement("mathType"));

    /** Candidates asked of the heuristics (cuDNN 9 has 8 forward, 6 data, 7 filter algorithms). */
    static final int MAX_ALGOS = 16;
    /** Workspace an algorithm may ask for. */
    static final long WORKSPACE_LIMIT = 1L << 30;
    static final int MAX_PLANS = 256;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong SIZE_T = ValueLayout.JAVA_LONG;
    private static final AddressLayout PTR = ValueLayout.ADDRESS;

    /** The functions used, with their C signatures as FunctionDescriptors (status int first). */
    private static final Map<String, FunctionDescriptor> FUNCTIONS = Map.ofEntries(
            Map.entry("cudnnCreate", FunctionDescriptor.of(INT, PTR)),
            Map.entry("cudnnSetStream", FunctionDescriptor.of(INT, PTR, PTR)),
            Map.entry("cudnnCreateTensorDescriptor", FunctionDescriptor.of(INT, PTR)),
            Map.entry("cudnnDestroyTensorDescriptor", FunctionDescriptor.of(INT, PTR)),
            // (desc, format, dataType, n, c, h, w)
            Map.entry("cudnnSetTensor4dDescriptor", FunctionDescriptor.of(INT, PTR, INT, INT, INT, INT, INT, INT)),
            Map.entry("cudnnCreateFilterDescriptor", FunctionDescriptor.of(INT, PTR)),
            Map.entry("cudnnDestroyFilterDescriptor", FunctionDescriptor.of(INT, PTR)),
            // (desc, dataType, format, k, c, h, w): dataType before format, unlike the tensor's
            Map.entry("cudnnSetFilter4dDescriptor", FunctionDescriptor.of(INT, PTR, INT, INT, INT, INT, INT, INT)),
            Map.entry("cudnnCreateConvolutionDescriptor", FunctionDescriptor.of(INT, PTR)),
            Map.entry("cudnnDestroyConvolutionDescriptor", FunctionDescriptor.of(INT, PTR)),
            // (desc, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, computeType)
            Map.entry("cudnnSetConvolution2dDescriptor", FunctionDescriptor.of(INT, PTR, INT, INT, INT, INT, INT, INT, INT, INT)),
            Map.entry("cudnnSetConvolutionGroupCount", FunctionDescriptor.of(INT, PTR, INT)),
            Map.entry("cudnnSetConvolutionMathType", FunctionDescriptor.of(INT, PTR, INT)),
            // (handle, xDesc, wDesc, convDesc, yDesc, requested, int* returned, perf*)
            Map.entry("cudnnGetConvolutionForwardAlgorithm_v7", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR, PTR)),
            // (handle, wDesc, dyDesc, convDesc, dxDesc, requested, int* returned, perf*)
            Map.entry("cudnnGetConvolutionBackwardDataAlgorithm_v7", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR, PTR)),
            // (handle, xDesc, dyDesc, convDesc, dwDesc, requested, int* returned, perf*)
            Map.entry("cudnnGetConvolutionBackwardFilterAlgorithm_v7", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR, PTR)),
            // (handle, xDesc, wDesc, convDesc, yDesc, algo, size_t*)
            Map.entry("cudnnGetConvolutionForwardWorkspaceSize", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR)),
            // (handle, wDesc, dyDesc, convDesc, dxDesc, algo, size_t*)
            Map.entry("cudnnGetConvolutionBackwardDataWorkspaceSize", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR)),
            // (handle, xDesc, dyDesc, convDesc, dwDesc, algo, size_t*)
            Map.entry("cudnnGetConvolutionBackwardFilterWorkspaceSize", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, INT, PTR)),
            // (handle, alpha*, xDesc, x, wDesc, w, convDesc, algo, workSpace, workSpaceSizeInBytes, beta*, yDesc, y)
            Map.entry("cudnnConvolutionForward", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, PTR, PTR, INT, PTR, SIZE_T, PTR, PTR, PTR)),
            // (handle, alpha*, wDesc, w, dyDesc, dy, convDesc, algo, workSpace, size, beta*, dxDesc, dx)
            Map.entry("cudnnConvolutionBackwardData", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, PTR, PTR, INT, PTR, SIZE_T, PTR, PTR, PTR)),
            // (handle, alpha*, xDesc, x, dyDesc, dy, convDesc, algo, workSpace, size, beta*, dwDesc, dw)
            Map.entry("cudnnConvolutionBackwardFilter", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, PTR, PTR, INT, PTR, SIZE_T, PTR, PTR, PTR)),
            // (handle, alpha*, aDesc, A, beta*, cDesc, C): C = alpha·A + beta·C, A broadcast
            Map.entry("cudnnAddTensor", FunctionDescriptor.of(INT, PTR, PTR, PTR, PTR, PTR, PTR, PTR)));

    /** The three passes, as indices of a plan's algorithm arrays. */
    enum Pass { FORWARD, BACKWARD_DATA, BACKWARD_FILTER }

    private final String description;
    private final CudaLibraries.Context context;
    private final Map<String, MethodHandle> functions;
    private final MethodHandle errorString;
    private final MemorySegment handle;
    private final MemorySegment one = Arena.global().allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
    private final MemorySegment zero = Arena.global().allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
    private final Map<PlanKey, Plan> plans = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<PlanKey, Plan> eldest) {
            if (size() <= MAX_PLANS) return false;
            eldest.getValue().destroy();
            return true;
        }
    };

    private CuDnn(String description, CudaLibraries.Context context, Map<String, MethodHandle> functions,
                  MethodHandle errorString, MemorySegment handle) {
        this.description = description;
        this.context = context;
        this.functions = functions;
        this.errorString = errorString;
        this.handle = handle;
    }

    /** Loads libcudnn, creates a handle and puts it on {@code stream}; the reason in one line if it cannot. */
    static CuDnn open(CudaLibraries.Context context, long stream) throws CudaLibraries.Unavailable {
        CudaProbe.Loaded l = CudaLibraries.open(CudaProbe.CUDNN, "libcudnn");
        try {
            Map<String, MethodHandle> fns = new HashMap<>();
            for (Map.Entry<String, FunctionDescriptor> e : FUNCTIONS.entrySet()) fns.put(e.getKey(), l.function(e.getKey(), e.getValue()));
            MethodHandle error = l.function("cudnnGetErrorString", FunctionDescriptor.of(PTR, INT));
            long v = (long) l.function("cudnnGetVersion", FunctionDescriptor.of(SIZE_T)).invokeExact();
            context.makeCurrent();
            MemorySegment h;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(PTR);
                int s = (int) fns.get("cudnnCreate").invokeExact(out);
                if (s != 0) throw new CudaLibraries.Unavailable(l.name() + ": cudnnCreate failed: " + errorName(error, s));
                h = out.get(PTR, 0);
            }
            int s = (int) fns.get("cudnnSetStream").invokeExact(h, MemorySegment.ofAddress(stream));
            if (s != 0) throw new CudaLibraries.Unavailable(l.name() + ": cudnnSetStream failed: " + errorName(error, s));
            return new CuDnn("cuDNN " + version(v) + " (" + l.name() + ")", context, Map.copyOf(fns), error, h);
        } catch (CudaLibraries.Unavailable e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaLibraries.Unavailable(l.name() + " did not start: " + t);
        }
    }

    /** cudnnGetVersion's number as "major.minor.patch" (cuDNN 9: major·10000 + minor·100 + patch; 8: major·1000 + …). */
    static String version(long v) {
        return v >= 90000 ? (v / 10000) + "." + (v % 10000) / 100 + "." + v % 100
                : (v / 1000) + "." + (v % 1000) / 100 + "." + v % 100;
    }

    /** e.g. "cuDNN 9.10.2 (libcudnn.so.9)". */
    String description() {
        return description;
    }

    private static String errorName(MethodHandle error, int status) {
        try {
            MemorySegment s = (MemorySegment) error.invokeExact(status);
            return s.address() == 0 ? "status " + status : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "status " + status;
        }
    }

    // ---------------------------------------------------------------- pure parts (tested without a GPU)

    /** Descriptor dimensions (n, c, h, w): x, y, the filter (outC, inC/groups, kh, kw) and the bias (1, outC, 1, 1). */
    static int[][] descriptorDims(ConvGeometry g) {
        return new int[][] {
                {g.n(), g.inC(), g.h(), g.w()},
                {g.n(), g.outC(), g.oh(), g.ow()},
                {g.outC(), g.inPerGroup(), g.kh(), g.kw()},
                {1, g.outC(), 1, 1}};
    }

    /** cudnnSetConvolution2dDescriptor's (pad_h, pad_w, u, v, dilation_h, dilation_w). */
    static int[] convolutionParams(ConvGeometry g) {
        return new int[] {g.padH(), g.padW(), g.strideH(), g.strideW(), g.dilationH(), g.dilationW()};
    }

    static int mathType(boolean tf32) {
        return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    }

    /**
     * The math type to run an algorithm with: the one the heuristics reported for it (cuDNN needs
     * algorithm and math type together, as PyTorch sets them), except that full FP32 stays
     * {@code CUDNN_FMA_MATH}.
     */
    static int algorithmMath(boolean tf32, int reported) {
        return tf32 ? reported : CUDNN_FMA_MATH;
    }

    /**
     * Index in {@code perf} (count entries of {@link #PERF}, best first) of the algorithm to use: the
     * first deterministic one that succeeded within {@code limit} bytes of workspace, else the first
     * that succeeded within it; -1 when none did.
     */
    static int pickAlgorithm(MemorySegment perf, int count, long limit) {
        int fallback = -1;
        for (int i = 0; i < count; i++) {
            long at = i * PERF.byteSize();
            if (perf.get(INT, at + PERF_STATUS) != 0 || perf.get(SIZE_T, at + PERF_MEMORY) > limit) continue;
            if (perf.get(INT, at + PERF_DETERMINISM) == CUDNN_DETERMINISTIC) return i;
            if (fallback < 0) fallback = i;
        }
        return fallback;
    }

    // ---------------------------------------------------------------- calls

    private int call(String function, Object... args) {
        try {
            return (int) functions.get(function).invokeWithArguments(args);
        } catch (Throwable t) {
            throw new CudaException("cuDNN " + function + " could not be called: " + t);
        }
    }

    private void check(String function, String what, Object... args) {
        int status = call(function, args);
        if (status != 0)
            throw new CudaException("cuDNN " + function + " failed: " + errorName(errorString, status) + " (" + what + ")");
    }

    private static MemorySegment at(long address) {
        return MemorySegment.ofAddress(address);
    }

    private record PlanKey(ConvGeometry geometry, boolean tf32) {}

    /** The descriptors of one geometry and precision, and per pass the algorithm chosen and its workspace bytes. */
    private final class Plan {
        final String what;
        MemorySegment x, y, w, bias, conv;
        final boolean tf32;
        final int[] algo = {-1, -1, -1};
        final int[] math = new int[3];
        final long[] workspace = new long[3];

        Plan(ConvGeometry g, boolean tf32) {
            this.tf32 = tf32;
            what = "conv2d " + g + (tf32 ? ", TF32" : ", FP32");
            try {
                int[][] d = descriptorDims(g);
                x = tensor(d[0]);
                y = tensor(d[1]);
                bias = tensor(d[3]);
                w = create("cudnnCreateFilterDescriptor");
                check("cudnnSetFilter4dDescriptor", what, w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d[2][0], d[2][1], d[2][2], d[2][3]);
                conv = create("cudnnCreateConvolutionDescriptor");
                int[] c = convolutionParams(g);
                check("cudnnSetConvolution2dDescriptor", what, conv, c[0], c[1], c[2], c[3], c[4], c[5],
                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
                check("cudnnSetConvolutionGroupCount", what, conv, g.groups());
                check("cudnnSetConvolutionMathType", what, conv, mathType(tf32));
            } catch (RuntimeException e) {
                destroy();
                throw e;
            }
        }

        private MemorySegment create(String function) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(PTR);
                check(function, what, out);
                return out.get(PTR, 0);
            }
        }

        private MemorySegment tensor(int[] nchw) {
            MemorySegment t = create("cudnnCreateTensorDescriptor");
            try {
                check("cudnnSetTensor4dDescriptor", what, t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, nchw[0], nchw[1], nchw[2], nchw[3]);
            } catch (RuntimeException e) {
                call("cudnnDestroyTensorDescriptor", t);
                throw e;
            }
            return t;
        }

        /** Chooses the algorithm of {@code pass} (once) and sizes its workspace. */
        void choose(Pass pass) {
            if (algo[pass.ordinal()] >= 0) return;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment perf = arena.allocate(PERF, MAX_ALGOS), returned = arena.allocate(INT), size = arena.allocate(SIZE_T);
                check("cudnnSetConvolutionMathType", what, conv, mathType(tf32));   // another pass may have changed it
                switch (pass) {
                    case FORWARD -> check("cudnnGetConvolutionForwardAlgorithm_v7", what, handle, x, w, conv, y, MAX_ALGOS, returned, perf);
                    case BACKWARD_DATA -> check("cudnnGetConvolutionBackwardDataAlgorithm_v7", what, handle, w, y, conv, x, MAX_ALGOS, returned, perf);
                    case BACKWARD_FILTER -> check("cudnnGetConvolutionBackwardFilterAlgorithm_v7", what, handle, x, y, conv, w, MAX_ALGOS, returned, perf);
                }
                int count = Math.min(returned.get(INT, 0), MAX_ALGOS);
                int i = pickAlgorithm(perf, count, WORKSPACE_LIMIT);
                if (i < 0)
                    throw new CudaException("cuDNN offers no usable " + pass.name().toLowerCase().replace('_', ' ') + " algorithm ("
                            + count + " candidates, none succeeded within " + (WORKSPACE_LIMIT >> 20) + " MiB of workspace) (" + what + ")");
                int a = perf.get(INT, i * PERF.byteSize() + PERF_ALGO);
                math[pass.ordinal()] = algorithmMath(tf32, perf.get(INT, i * PERF.byteSize() + PERF_MATH));
                useMath(pass);
                switch (pass) {
                    case FORWARD -> check("cudnnGetConvolutionForwardWorkspaceSize", what, handle, x, w, conv, y, a, size);
                    case BACKWARD_DATA -> check("cudnnGetConvolutionBackwardDataWorkspaceSize", what, handle, w, y, conv, x, a, size);
                    case BACKWARD_FILTER -> check("cudnnGetConvolutionBackwardFilterWorkspaceSize", what, handle, x, y, conv, w, a, size);
                }
                workspace[pass.ordinal()] = size.get(SIZE_T, 0);
                algo[pass.ordinal()] = a;
            }
        }

        /** Sets the descriptor's math type to the one pass's algorithm was chosen with (the passes share it). */
        void useMath(Pass pass) {
            check("cudnnSetConvolutionMathType", what, conv, math[pass.ordinal()]);
        }

        void destroy() {
            for (MemorySegment t : new MemorySegment[] {x, y, bias})
                if (t != null) call("cudnnDestroyTensorDescriptor", t);
            if (w != null) call("cudnnDestroyFilterDescriptor", w);
            if (conv != null) call("cudnnDestroyConvolutionDescriptor", conv);
            x = y = bias = w = conv = null;
        }
    }

    private Plan plan(ConvGeometry g, boolean tf32, Pass pass) {
        context.makeCurrent();
        Plan p = plans.computeIfAbsent(new PlanKey(g, tf32), k -> new Plan(g, tf32));
        p.choose(pass);
        return p;
    }

    /** One cuDNN convolution call, given its plan, workspace address and size. */
    @FunctionalInterface
    private interface Call {
        void run(Plan p, MemorySegment workspace, long bytes);
    }

    /**
     * Runs {@code call} for {@code pass} of g: the cached plan (descriptors, algorithm, workspace size),
     * its math type, and a workspace from the backend's allocator for the call's duration (released
     * stream-ordered: reused only by work queued after it).
     */
    private void run(CudaBackend b, ConvGeometry g, boolean tf32, Pass pass, Call call) {
        Plan p = plan(g, tf32, pass);
        p.useMath(pass);
        long bytes = p.workspace[pass.ordinal()];
        Storage ws = bytes <= 0 ? null : b.allocateUninitialized(Math.toIntExact((bytes + 3) / 4));
        try {
            call.run(p, at(ws == null ? 0 : b.address(ws)), bytes);
        } finally {
            if (ws != null) b.release(ws);
        }
    }

    /** y = conv(x, weight) (+ bias per output channel). */
    synchronized void forward(CudaBackend b, ConvGeometry g, boolean tf32, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        run(b, g, tf32, Pass.FORWARD, (p, ws, bytes) -> {
            check("cudnnConvolutionForward", p.what, handle, one, p.x, at(b.address(x)), p.w, at(b.address(weight)), p.conv,
                    p.algo[Pass.FORWARD.ordinal()], ws, bytes, zero, p.y, at(b.address(y)));
            if (bias != null) check("cudnnAddTensor", p.what, handle, one, p.bias, at(b.address(bias)), one, p.y, at(b.address(y)));
        });
    }

    /** dx from dy and the weight (overwrites dx). */
    synchronized void backwardData(CudaBackend b, ConvGeometry g, boolean tf32, Tensor dy, Tensor weight, Tensor dx) {
        run(b, g, tf32, Pass.BACKWARD_DATA, (p, ws, bytes) ->
                check("cudnnConvolutionBackwardData", p.what, handle, one, p.w, at(b.address(weight)), p.y, at(b.address(dy)),
                        p.conv, p.algo[Pass.BACKWARD_DATA.ordinal()], ws, bytes, zero, p.x, at(b.address(dx))));
    }

    /** dWeight from x and dy (overwrites dWeight). */
    synchronized void backwardWeight(CudaBackend b, ConvGeometry g, boolean tf32, Tensor x, Tensor dy, Tensor dWeight) {
        run(b, g, tf32, Pass.BACKWARD_FILTER, (p, ws, bytes) ->
                check("cudnnConvolutionBackwardFilter", p.what, handle, one, p.x, at(b.address(x)), p.y, at(b.address(dy)),
                        p.conv, p.algo[Pass.BACKWARD_FILTER.ordinal()], ws, bytes, zero, p.w, at(b.address(dWeight))));
    }
}
