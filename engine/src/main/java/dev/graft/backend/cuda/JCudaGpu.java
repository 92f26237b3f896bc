package dev.graft.backend.cuda;

import static jcuda.driver.JCudaDriver.*;

import dev.graft.GraftException;
import dev.graft.kernels.PtxResources;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * A real GPU through JCuda's driver API: the device's primary context, one non-blocking stream, the
 * PTX modules of graft-kernels (the highest compiled architecture not above the device's), kernel
 * launches, and host copies through a pinned staging buffer. JCuda's classes are touched only after
 * {@link CudaProbe} has found {@code libcuda.so.1}, so machines without a driver get a one-line error
 * instead of a linkage failure.
 */
final class JCudaGpu implements GpuDriver {
    private static final int STAGING_FLOATS = 1 << 21;  // 8 MiB of pinned memory

    /** A CUdeviceptr whose address Java can read (JCuda keeps it protected). */
    static final class DevicePointer extends CUdeviceptr {
        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /** A CUstream whose handle Java can read, for cuBLAS and cuDNN bound through java.lang.foreign. */
    static final class Stream extends CUstream {
        long handle() {
            return getNativePointer();
        }
    }

    private record JFunction(String name, CUfunction f) implements Function {}

    private final int index;
    private final CUcontext context = new CUcontext();
    private final Stream stream = new Stream();
    private final List<CUmodule> modules = new ArrayList<>();
    private final String description;
    private final int multiprocessors;
    private final int capability;
    private final Pointer staging = new Pointer();
    private final FloatBuffer stagingFloats;
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);

    private JCudaGpu(int index) {
        this.index = index;
        setExceptionsEnabled(true);
        try {
            cuInit(0);
            int[] count = {0};
            cuDeviceGetCount(count);
            if (index >= count[0])
                throw new GraftException("device cuda:" + index + " is not available: the driver reports " + count[0] + " GPU(s)");
            CUdevice device = new CUdevice();
            cuDeviceGet(device, index);
            cuDevicePrimaryCtxRetain(context, device);
            cuCtxSetCurrent(context);
            current.set(true);
            multiprocessors = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
            capability = 10 * attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                    + attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
            byte[] name = new byte[256];
            cuDeviceGetName(name, name.length, device);
            int len = 0;
            while (len < name.length && name[len] != 0) len++;
            description = new String(name, 0, len, StandardCharsets.US_ASCII) + " (sm_" + capability + ")";
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            cuMemAllocHost(staging, 4L * STAGING_FLOATS);
            stagingFloats = staging.getByteBuffer(0, 4L * STAGING_FLOATS).order(ByteOrder.nativeOrder()).asFloatBuffer();
            loadModules();
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": " + e.getMessage());
        }
    }

    /** Opens GPU {@code index}, or fails with one line saying what is missing. */
    static JCudaGpu open(int index) {
        CudaProbe.Report report = CudaProbe.probe();
        if (!report.driver().isLoaded())
            throw new GraftException("device cuda:" + index + " is not available: " + report.driver().detail()
                    + " (graft doctor lists what CUDA this machine has)");
        if (PtxResources.build().isEmpty())
            throw new GraftException("device cuda:" + index + " is not available: this build of graft-kernels has no PTX"
                    + " (it was built without nvcc)");
        try {
            return new JCudaGpu(index);
        } catch (UnsatisfiedLinkError e) {
            throw new GraftException("device cuda:" + index + " is not available: JCuda's native library did not load ("
                    + e.getMessage() + ")");
        }
    }

    private static int attribute(CUdevice device, int attribute) {
        int[] v = {0};
        cuDeviceGetAttribute(v, attribute, device);
        return v[0];
    }

    private void loadModules() {
        PtxResources.Build build = PtxResources.build().orElseThrow();
        int arch = PtxResources.bestArch(build.archs(), capability).orElseThrow(() -> new GraftException(
                "device cuda:" + index + " (sm_" + capability + ") is older than every architecture graft-kernels was built for "
                        + build.archs()));
        Integer cubinArch = build.cubins() ? PtxResources.cubinArch(build.archs(), capability).orElse(null) : null;
        for (String kernel : build.kernels()) {
            // Machine code for this GPU's family when there is one (no JIT, any driver that knows the GPU);
            // else the PTX, JIT-compiled by the driver for a newer GPU.
            byte[] image = cubinArch == null ? null : PtxResources.cubin(kernel, cubinArch).orElse(null);
            if (image == null) {
                byte[] ptx = PtxResources.ptx(kernel, arch).orElseThrow(() -> new GraftException(
                        "graft-kernels lists " + kernel + " but has no PTX of it for sm_" + arch));
                image = java.util.Arrays.copyOf(ptx, ptx.length + 1);  // NUL-terminated for the JIT
            }
            CUmodule module = new CUmodule();
            try {
                cuModuleLoadData(module, image);
            } catch (jcuda.CudaException e) {
                throw new CudaException("cuda:" + index + ": loading the PTX of " + kernel + " (sm_" + arch + ", nvcc "
                        + build.nvccVersion() + ") failed: " + e.getMessage()
                        + " (PTX from a newer CUDA than the driver supports needs a newer driver)");
            }
            modules.add(module);
        }
    }

    private void makeCurrent() {
        if (!current.get()) {
            cuCtxSetCurrent(context);
            current.set(true);
        }
    }

    /** The stream handle (a CUstream), for libraries bound through java.lang.foreign. */
    long streamHandle() {
        return stream.handle();
    }

    private static CUdeviceptr at(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    @Override public String description() { return description; }

    @Override public int multiprocessors() { return multiprocessors; }

    @Override
    public long malloc(long bytes) {
        makeCurrent();
        DevicePointer p = new DevicePointer();
        try {
            cuMemAlloc(p, bytes);
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": cuMemAlloc of " + bytes + " bytes failed: " + e.getMessage());
        }
        return p.address();
    }

    @Override
    public void free(long address) {
        makeCurrent();
        cuMemFree(at(address));
    }

    @Override
    public void memsetZero(long address, long bytes) {
        makeCurrent();
        cuMemsetD8Async(at(address), (byte) 0, bytes, stream);
    }

    @Override
    public synchronized void copyToDevice(float[] src, int srcIndex, long dst, int count) {
        makeCurrent();
        try {
            for (int done = 0; done < count; ) {
                int n = Math.min(STAGING_FLOATS, count - done);
                cuStreamSynchronize(stream);  // the previous chunk has left the staging buffer
                stagingFloats.clear();
                stagingFloats.put(src, srcIndex + done, n);
                cuMemcpyHtoDAsync(at(dst + 4L * done), staging, 4L * n, stream);
                done += n;
            }
            cuStreamSynchronize(stream);
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": copy to the device failed: " + e.getMessage());
        }
    }

    @Override
    public synchronized void copyToHost(long src, float[] dst, int dstIndex, int count) {
        makeCurrent();
        try {
            for (int done = 0; done < count; ) {
                int n = Math.min(STAGING_FLOATS, count - done);
                cuMemcpyDtoHAsync(staging, at(src + 4L * done), 4L * n, stream);
                cuStreamSynchronize(stream);
                stagingFloats.clear();
                stagingFloats.get(dst, dstIndex + done, n);
                done += n;
            }
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": copy to the host failed (a kernel before it may have failed): "
                    + e.getMessage());
        }
    }

    @Override
    public void copyOnDevice(long src, long dst, long bytes) {
        makeCurrent();
        cuMemcpyDtoDAsync(at(dst), at(src), bytes, stream);
    }

    @Override
    public Function function(String name) {
        makeCurrent();
        for (CUmodule m : modules) {
            CUfunction f = new CUfunction();
            try {
                cuModuleGetFunction(f, m, name);
                return new JFunction(name, f);
            } catch (jcuda.CudaException e) {
                // not in this module
            }
        }
        throw new CudaException("cuda:" + index + ": kernel " + name + " is in none of graft-kernels' PTX modules");
    }

    @Override
    public void launch(Function f, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes, KernelArgs args) {
        makeCurrent();
        var list = args.list();
        Pointer[] params = new Pointer[list.size()];
        for (int i = 0; i < params.length; i++) {
            KernelArgs.Arg a = list.get(i);
            params[i] = switch (a.kind()) {
                case POINTER, LONG -> Pointer.to(new long[] {a.bits()});
                case INT -> Pointer.to(new int[] {(int) a.bits()});
                case FLOAT -> Pointer.to(new float[] {Float.intBitsToFloat((int) a.bits())});
                case INT_STRUCT -> Pointer.to(a.ints());
            };
        }
        try {
            cuLaunchKernel(((JFunction) f).f(), gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, stream,
                    Pointer.to(params), null);
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": launching " + f.name() + " (grid " + gridX + "x" + gridY + "x" + gridZ
                    + ", block " + blockX + "x" + blockY + "x" + blockZ + ", " + sharedBytes + " B shared) failed: " + e.getMessage());
        }
    }

    @Override
    public void synchronize() {
        makeCurrent();
        try {
            cuStreamSynchronize(stream);
        } catch (jcuda.CudaException e) {
            throw new CudaException("cuda:" + index + ": a kernel failed: " + e.getMessage());
        }
    }
}
