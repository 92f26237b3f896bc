package dev.graft.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * A {@link GpuDriver} that runs Graft's CUDA kernels on the CPU: the kernel sources compiled by g++
 * with the emulation header into {@code libgraft-emu.so} (built with graft-kernels, packed beside the
 * PTX), called through java.lang.foreign. Device memory is host memory; every launch runs to
 * completion before it returns. Slow (each CUDA thread is a fiber) and meant for tests: it makes the
 * CUDA backend's dispatch, launch geometry, argument passing and kernel arithmetic checkable against
 * the CPU backend on machines without a GPU.
 */
public final class EmulatedGpu implements GpuDriver {
    static final String RESOURCE = "/dev/graft/kernels/emu/linux-x86_64/libgraft-emu.so";

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle CALLOC = LINKER.downcallHandle(LIBC.find("calloc").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle FREE = LINKER.downcallHandle(LIBC.find("free").orElseThrow(),
            FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    private final MethodHandle launch;
    private final MethodHandle has;

    /**
     * With {@code -Dgraft.cuda.emulation.profile=true}: launches, blocks, threads and seconds per
     * kernel, printed to stderr at exit (finds kernels whose launch geometry makes them slow).
     */
    private static final java.util.Map<String, long[]> PROFILE = Boolean.getBoolean("graft.cuda.emulation.profile")
            ? new java.util.concurrent.ConcurrentHashMap<>() : null;

    static {
        if (PROFILE != null) Runtime.getRuntime().addShutdownHook(new Thread(() -> System.err.print(profile())));
    }

    /** The profile so far (empty unless profiling is on): one line per kernel, slowest first. */
    static String profile() {
        if (PROFILE == null) return "";
        StringBuilder sb = new StringBuilder("emulated kernels: launches, blocks, threads per block (last), seconds\n");
        PROFILE.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[3], a.getValue()[3])).forEach(e ->
                sb.append(String.format("  %-36s %8d %10d %6d %9.3f%n", e.getKey(), e.getValue()[0], e.getValue()[1],
                        e.getValue()[2], e.getValue()[3] / 1e9)));
        return sb.toString();
    }

    private record EmuFunction(String name, MemorySegment cName) implements Function {}

    private EmulatedGpu(SymbolLookup lib) {
        launch = LINKER.downcallHandle(lib.find("graft_emu_launch").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        has = LINKER.downcallHandle(lib.find("graft_emu_has").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    }

    /** The emulation, if this build of graft-kernels contains it (built where a C++ compiler was found). */
    public static Optional<EmulatedGpu> load() {
        Path lib = extract();
        if (lib == null) return Optional.empty();
        return Optional.of(new EmulatedGpu(SymbolLookup.libraryLookup(lib, Arena.global())));
    }

    private static Path extract() {
        try (InputStream in = EmulatedGpu.class.getResourceAsStream(RESOURCE)) {
            if (in == null) return null;
            Path tmp = Files.createTempFile("libgraft-emu", ".so");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            tmp.toFile().deleteOnExit();
            return tmp;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract " + RESOURCE, e);
        }
    }

    @Override public String description() { return "CPU emulation of the CUDA kernels (libgraft-emu)"; }

    @Override public int multiprocessors() { return 4; }

    /**
     * Bytes of guard pattern before and after every allocation. After each launch the guards of the
     * buffers the kernel was given are checked, so a kernel that writes out of bounds (which on a GPU
     * corrupts a neighbour silently) fails with its name; {@code -Dgraft.cuda.emulation.guard=false}
     * turns it off.
     */
    static final int GUARD = 256;
    private static final byte PATTERN = (byte) 0xA5;
    private static final boolean GUARDED = !"false".equals(System.getProperty("graft.cuda.emulation.guard"));

    /** Live allocations: the address handed out → its size in bytes. */
    private final java.util.NavigableMap<Long, Long> live = new java.util.concurrent.ConcurrentSkipListMap<>();

    @Override
    public long malloc(long bytes) {
        long size = Math.max(bytes, 1L), guard = GUARDED ? GUARD : 0;
        try {
            MemorySegment p = (MemorySegment) CALLOC.invokeExact(1L, size + 2 * guard);
            if (p.address() == 0) throw new CudaException("emulated GPU: out of host memory allocating " + bytes + " bytes");
            long address = p.address() + guard;
            if (GUARDED) {
                at(p.address(), guard).fill(PATTERN);
                at(address + size, guard).fill(PATTERN);
                live.put(address, size);
            }
            return address;
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public void free(long address) {
        long base = address;
        if (GUARDED) {
            Long size = live.remove(address);
            if (size != null) checkGuards(address, size, "freeing");
            base -= GUARD;
        }
        try {
            FREE.invokeExact(MemorySegment.ofAddress(base));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Fails if the guard bytes around the allocation at {@code address} were written. */
    private static void checkGuards(long address, long size, String after) {
        for (long[] g : new long[][] {{address - GUARD, -1}, {address + size, 1}}) {
            MemorySegment s = at(g[0], GUARD);
            for (int i = 0; i < GUARD; i++) {
                if (s.get(ValueLayout.JAVA_BYTE, i) != PATTERN)
                    throw new CudaException("emulated GPU: a write " + (g[1] < 0 ? "before the start" : "past the end")
                            + " of a device buffer of " + size + " bytes was found after " + after
                            + " (byte " + (g[1] < 0 ? i - GUARD : i) + " outside it)");
            }
        }
    }

    /** Checks the guards of every allocation a launch's pointer arguments point into. */
    private void checkLaunchGuards(String kernel, KernelArgs args) {
        for (KernelArgs.Arg a : args.list()) {
            if (a.kind() != KernelArgs.Kind.POINTER || a.bits() == 0) continue;
            var e = live.floorEntry(a.bits());
            if (e != null && a.bits() < e.getKey() + e.getValue()) checkGuards(e.getKey(), e.getValue(), "kernel " + kernel);
        }
    }

    private static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override
    public void memsetZero(long address, long bytes) {
        at(address, bytes).fill((byte) 0);
    }

    @Override
    public void copyToDevice(float[] src, int srcIndex, long dst, int count) {
        MemorySegment.copy(src, srcIndex, at(dst, 4L * count), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, count);
    }

    @Override
    public void copyToHost(long src, float[] dst, int dstIndex, int count) {
        MemorySegment.copy(at(src, 4L * count), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, dst, dstIndex, count);
    }

    @Override
    public void copyOnDevice(long src, long dst, long bytes) {
        MemorySegment.copy(at(src, bytes), 0, at(dst, bytes), 0, bytes);
    }

    @Override
    public Function function(String name) {
        MemorySegment cName = Arena.global().allocateFrom(name);
        try {
            if ((int) has.invokeExact(cName) == 0)
                throw new CudaException("kernel " + name + " is not in the emulation library (rebuild graft-kernels)");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return new EmuFunction(name, cName);
    }

    @Override
    public void launch(Function f, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes, KernelArgs args) {
        EmuFunction fn = (EmuFunction) f;
        try (Arena arena = Arena.ofConfined()) {
            var list = args.list();
            MemorySegment params = arena.allocate(ValueLayout.ADDRESS, Math.max(1, list.size()));
            for (int i = 0; i < list.size(); i++) {
                KernelArgs.Arg a = list.get(i);
                MemorySegment v = arena.allocate(KernelArgs.size(a), 8);
                switch (a.kind()) {
                    case POINTER, LONG -> v.set(ValueLayout.JAVA_LONG, 0, a.bits());
                    case INT, FLOAT -> v.set(ValueLayout.JAVA_INT, 0, (int) a.bits());
                    case INT_STRUCT -> MemorySegment.copy(a.ints(), 0, v, ValueLayout.JAVA_INT, 0, a.ints().length);
                }
                params.setAtIndex(ValueLayout.ADDRESS, i, v);
            }
            MemorySegment grid = arena.allocateFrom(ValueLayout.JAVA_INT, gridX, gridY, gridZ);
            MemorySegment block = arena.allocateFrom(ValueLayout.JAVA_INT, blockX, blockY, blockZ);
            MemorySegment error = arena.allocate(512);
            long t0 = System.nanoTime();
            int rc = (int) launch.invokeExact(fn.cName(), grid, block, sharedBytes, params, error, 512);
            if (PROFILE != null) {
                long[] p = PROFILE.computeIfAbsent(fn.name(), k -> new long[4]);
                synchronized (p) {
                    p[0]++;
                    p[1] += (long) gridX * gridY * gridZ;
                    p[2] = (long) blockX * blockY * blockZ;
                    p[3] += System.nanoTime() - t0;
                }
            }
            if (rc != 0) throw new CudaException("emulated launch of " + fn.name() + " failed: " + error.getString(0));
            if (GUARDED) checkLaunchGuards(fn.name(), args);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public void synchronize() {}
}
