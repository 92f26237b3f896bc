package dev.graft.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What CUDA this machine offers, found without JCuda and without a GPU being required: each
 * library (driver, runtime, cuBLAS, cuDNN) is opened by name through the system's loader with
 * Java's foreign-function API, and asked for its version; the driver is also asked for its
 * devices. Nothing here throws: a library that is missing or refuses is reported as such, with the
 * reason, so that {@code graft doctor} can say exactly what loaded and what did not.
 *
 * <p>The names tried are those of CUDA 13 and 12 (and cuDNN 9 and 8), newest first; the facts
 * about which JCuda release needs which of them are in {@code ../shared/GPU-NOTES.md}.
 */
public final class CudaProbe {
    private CudaProbe() {}

    /** Sonames tried, newest first. */
    public static final List<String> DRIVER = List.of("libcuda.so.1");
    public static final List<String> RUNTIME = List.of("libcudart.so.13", "libcudart.so.12");
    public static final List<String> CUBLAS = List.of("libcublas.so.13", "libcublas.so.12");
    public static final List<String> CUDNN = List.of("libcudnn.so.9", "libcudnn.so.8");

    /**
     * One library: its role, the soname that loaded (or null), its version as the library reports
     * it (or null), and a one-line detail (why it did not load, or what it said).
     */
    public record Library(String role, String loaded, String version, String detail) {
        public boolean isLoaded() {
            return loaded != null;
        }
    }

    /** One GPU as the driver describes it. */
    public record Device(int ordinal, String name, int major, int minor, long totalMemory) {}

    /** Everything found: the four libraries and the driver's devices (empty without a driver). */
    public record Report(Library driver, Library runtime, Library cublas, Library cudnn, List<Device> devices) {
        public List<Library> libraries() {
            return List.of(driver, runtime, cublas, cudnn);
        }
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final FunctionDescriptor INT_PTR = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS);

    /** Probes all four libraries; never throws. */
    public static Report probe() {
        try (Arena arena = Arena.ofConfined()) {
            List<Device> devices = new ArrayList<>();
            Library driver = driver(arena, devices);
            return new Report(driver, runtime(arena), cublas(arena), cudnn(arena), List.copyOf(devices));
        }
    }

    /** The first of names that the system's loader opens, with the soname that did. */
    static Optional<Loaded> open(List<String> names, Arena arena) {
        for (String name : names) {
            try {
                return Optional.of(new Loaded(name, SymbolLookup.libraryLookup(name, arena)));
            } catch (IllegalArgumentException | IllegalCallerException e) {
                // not found (or native access refused): try the next name
            }
        }
        return Optional.empty();
    }

    record Loaded(String name, SymbolLookup lookup) {
        MethodHandle function(String symbol, FunctionDescriptor descriptor) {
            MemorySegment address = lookup.find(symbol).orElseThrow(() -> new IllegalStateException(name + " has no " + symbol));
            return LINKER.downcallHandle(address, descriptor);
        }

        /** Calls {@code int symbol(int* out)} and returns {status, *out}. */
        int[] intOut(String symbol, Arena arena) throws Throwable {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            int status = (int) function(symbol, INT_PTR).invokeExact(out);
            return new int[] {status, out.get(ValueLayout.JAVA_INT, 0)};
        }
    }

    private static Library missing(String role, List<String> names, String why) {
        return new Library(role, null, null, "not found (tried " + String.join(", ", names) + ")" + why);
    }

    /** CUDA's 1000·major + 10·minor encoding as "major.minor". */
    static String cudaVersion(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }

    /** What one loaded library says about itself. */
    @FunctionalInterface
    private interface Query {
        Library ask(Loaded l) throws Throwable;
    }

    /** Opens the first of names that loads and asks it; a missing library or a failing call is reported. */
    private static Library library(String role, List<String> names, String whyMissing, Arena arena, Query query) {
        Optional<Loaded> lib = open(names, arena);
        if (lib.isEmpty()) return missing(role, names, whyMissing);
        try {
            return query.ask(lib.get());
        } catch (Throwable t) {
            return new Library(role, lib.get().name(), null, "loaded, but a call failed: " + t.getMessage());
        }
    }

    private static Library driver(Arena arena, List<Device> devices) {
        return library("driver", DRIVER, ": no NVIDIA driver on this machine", arena, l -> {
            int init = (int) l.function("cuInit", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT)).invokeExact(0);
            int[] version = l.intOut("cuDriverGetVersion", arena);
            String v = version[0] == 0 ? cudaVersion(version[1]) : null;
            if (init != 0) return new Library("driver", l.name(), v, "cuInit failed with CUDA error " + init);
            int[] count = l.intOut("cuDeviceGetCount", arena);
            if (count[0] != 0) return new Library("driver", l.name(), v, "cuDeviceGetCount failed with CUDA error " + count[0]);
            MethodHandle get = l.function("cuDeviceGet", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle name = l.function("cuDeviceGetName",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MethodHandle mem = l.function("cuDeviceTotalMem_v2", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle attr = l.function("cuDeviceGetAttribute",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            for (int i = 0; i < count[1]; i++) {
                MemorySegment dev = arena.allocate(ValueLayout.JAVA_INT), text = arena.allocate(256);
                MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG), major = arena.allocate(ValueLayout.JAVA_INT),
                        minor = arena.allocate(ValueLayout.JAVA_INT);
                int s1 = (int) get.invokeExact(dev, i);
                int d = dev.get(ValueLayout.JAVA_INT, 0);
                int s2 = (int) name.invokeExact(text, 256, d);
                int s3 = (int) mem.invokeExact(bytes, d);
                int s4 = (int) attr.invokeExact(major, 75, d);   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
                int s5 = (int) attr.invokeExact(minor, 76, d);   // …_MINOR
                if ((s1 | s2 | s3 | s4 | s5) != 0) continue;
                devices.add(new Device(i, text.getString(0), major.get(ValueLayout.JAVA_INT, 0), minor.get(ValueLayout.JAVA_INT, 0),
                        bytes.get(ValueLayout.JAVA_LONG, 0)));
            }
            return new Library("driver", l.name(), v, count[1] + " device(s)");
        });
    }

    private static Library runtime(Arena arena) {
        return library("runtime", RUNTIME, "", arena, l -> {
            int[] version = l.intOut("cudaRuntimeGetVersion", arena);
            String v = version[0] == 0 ? cudaVersion(version[1]) : null;
            int[] count = l.intOut("cudaGetDeviceCount", arena);
            if (count[0] == 0) return new Library("runtime", l.name(), v, count[1] + " device(s)");
            MethodHandle text = l.function("cudaGetErrorString", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MemorySegment s = ((MemorySegment) text.invokeExact(count[0])).reinterpret(1024);
            return new Library("runtime", l.name(), v, "cudaGetDeviceCount: error " + count[0] + " (" + s.getString(0) + ")");
        });
    }

    private static Library cublas(Arena arena) {
        return library("cublas", CUBLAS, "", arena, l -> {
            MethodHandle prop = l.function("cublasGetProperty", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            int[] parts = new int[3];
            for (int p = 0; p < 3; p++) {   // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
                MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
                int status = (int) prop.invokeExact(p, out);
                if (status != 0) return new Library("cublas", l.name(), null, "cublasGetProperty failed with status " + status);
                parts[p] = out.get(ValueLayout.JAVA_INT, 0);
            }
            return new Library("cublas", l.name(), parts[0] + "." + parts[1] + "." + parts[2], "loaded");
        });
    }

    private static Library cudnn(Arena arena) {
        return library("cudnn", CUDNN, "", arena, l -> {
            long v = (long) l.function("cudnnGetVersion", FunctionDescriptor.of(ValueLayout.JAVA_LONG)).invokeExact();
            // cuDNN 9: major·10000 + minor·100 + patch; cuDNN 8: major·1000 + minor·100 + patch.
            String version = v >= 90000 ? (v / 10000) + "." + (v % 10000) / 100 + "." + v % 100
                    : (v / 1000) + "." + (v % 1000) / 100 + "." + v % 100;
            return new Library("cudnn", l.name(), version, "loaded");
        });
    }
}
