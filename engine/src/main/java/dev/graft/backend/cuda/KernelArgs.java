package dev.graft.backend.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * The argument list of one kernel launch, in the kernel's parameter order: device pointers, 32-bit
 * and 64-bit integers, floats, and small structs of ints passed by value (shape and stride tables).
 * Each driver turns it into what {@code cuLaunchKernel} expects: one pointer per argument, to the
 * argument's bytes.
 */
public final class KernelArgs {
    /** One argument: its kind and value (ints holds a struct's fields). */
    public record Arg(Kind kind, long bits, int[] ints) {}

    public enum Kind { POINTER, INT, LONG, FLOAT, INT_STRUCT }

    private final List<Arg> args = new ArrayList<>(12);

    public static KernelArgs of() {
        return new KernelArgs();
    }

    /** A device address (a tensor's element address from {@link CudaBackend#address}). */
    public KernelArgs ptr(long address) {
        args.add(new Arg(Kind.POINTER, address, null));
        return this;
    }

    public KernelArgs i32(int v) {
        args.add(new Arg(Kind.INT, v, null));
        return this;
    }

    public KernelArgs i64(long v) {
        args.add(new Arg(Kind.LONG, v, null));
        return this;
    }

    public KernelArgs f32(float v) {
        args.add(new Arg(Kind.FLOAT, Float.floatToRawIntBits(v), null));
        return this;
    }

    public KernelArgs f32(double v) {
        return f32((float) v);
    }

    /** A struct of {@code values.length} ints passed by value (the C side declares a struct of int fields/arrays). */
    public KernelArgs ints(int... values) {
        args.add(new Arg(Kind.INT_STRUCT, 0, values.clone()));
        return this;
    }

    public List<Arg> list() {
        return args;
    }

    /** Bytes of argument {@code a}'s value. */
    static int size(Arg a) {
        return switch (a.kind()) {
            case POINTER, LONG -> 8;
            case INT, FLOAT -> 4;
            case INT_STRUCT -> 4 * a.ints().length;
        };
    }
}
