package dev.graft.backend;

import dev.graft.GraftException;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cuda.CudaBackend;
import dev.graft.backend.reference.ReferenceBackend;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;

/** Finds the backend for a device and element type. */
public final class Backends {
    private Backends() {}

    public static Backend get(Device device, DType dtype) {
        if (device.type() == Device.Type.CPU) {
            return switch (dtype) {
                case FLOAT32 -> CpuBackend.instance();
                case FLOAT64 -> ReferenceBackend.FLOAT64;
            };
        }
        if (dtype != DType.FLOAT32)
            throw new GraftException("device " + device + " supports float32 only, not " + dtype.name().toLowerCase(java.util.Locale.ROOT));
        return CudaBackend.forDevice(device.index());
    }

    public static Backend cpu() {
        return CpuBackend.instance();
    }
}
