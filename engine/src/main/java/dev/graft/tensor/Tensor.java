package dev.graft.tensor;

import dev.graft.autograd.Autograd;
import dev.graft.autograd.Node;
import dev.graft.backend.Backend;
import dev.graft.backend.Backends;
import dev.graft.backend.UnaryOp;
import dev.graft.ops.Elementwise;
import dev.graft.ops.LinearAlgebra;
import dev.graft.ops.Reductions;
import dev.graft.ops.Views;
import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * An n-dimensional array: a view (shape, strides, offset) over a {@link Storage} that one
 * {@link Backend} owns. Tensors that require gradients record the ops that read them; see
 * {@link Autograd}. Views share storage with their base; {@link #contiguous()} copies only when needed.
 */
public final class Tensor {
    private final Storage storage;
    private final int[] shape;
    private final int[] strides;
    private final int offset;

    private boolean requiresGrad;
    private Tensor grad;
    private Node gradFn;

    public Tensor(Storage storage, int[] shape, int[] strides, int offset) {
        if (shape.length != strides.length)
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " and strides " + Arrays.toString(strides) + " differ in rank");
        this.storage = storage;
        this.shape = shape.clone();
        this.strides = strides.clone();
        this.offset = offset;
    }

    // ------------------------------------------------------------------ creation

    /** A zero-filled float32 CPU tensor. */
    public static Tensor zeros(int... shape) {
        return zeros(Backends.cpu(), shape);
    }

    /** A zero-filled tensor on the given backend. */
    public static Tensor zeros(Backend backend, int... shape) {
        return new Tensor(backend.allocate(Shapes.numel(shape)), shape, Shapes.contiguousStrides(shape), 0);
    }

    public static Tensor zeros(DType dtype, Device device, int... shape) {
        return zeros(Backends.get(device, dtype), shape);
    }

    public static Tensor ones(int... shape) {
        return full(Backends.cpu(), 1.0, shape);
    }

    public static Tensor full(Backend backend, double value, int... shape) {
        Tensor t = zeros(backend, shape);
        if (value != 0) backend.fill(t, value);
        return t;
    }

    /** A zero-filled tensor with this tensor's backend and the given shape. */
    public Tensor newZeros(int... shape) {
        return zeros(backend(), shape);
    }

    /**
     * A new contiguous tensor of this one's backend with unspecified contents, for results that are
     * written in full before they are read (op outputs); cheaper than {@link #newZeros}.
     */
    public Tensor newEmpty(int... shape) {
        Storage s = backend().allocateUninitialized(Shapes.numel(shape));
        MemoryScope.track(s);
        return new Tensor(s, shape, Shapes.contiguousStrides(shape), 0);
    }

    /** A float32 CPU tensor holding a copy of {@code data}. */
    public static Tensor of(float[] data, int... shape) {
        checkLength(data.length, shape);
        return new Tensor(Backends.cpu().fromFloats(data.clone()), shape, Shapes.contiguousStrides(shape), 0);
    }

    /** A float64 CPU tensor holding a copy of {@code data}. */
    public static Tensor of(double[] data, int... shape) {
        checkLength(data.length, shape);
        Backend b = Backends.get(Device.CPU, DType.FLOAT64);
        return new Tensor(b.fromDoubles(data.clone()), shape, Shapes.contiguousStrides(shape), 0);
    }

    /** A 0-dimensional float32 tensor. */
    public static Tensor scalar(double value) {
        return of(new float[] {(float) value});
    }

    /** Standard-normal float32 values. */
    public static Tensor randn(RandomGenerator rng, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) rng.nextGaussian();
        return of(d, shape);
    }

    /** Uniform float32 values in [low, high). */
    public static Tensor uniform(RandomGenerator rng, double low, double high, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) (low + (high - low) * rng.nextDouble());
        return of(d, shape);
    }

    private static void checkLength(int length, int[] shape) {
        if (length != Shapes.numel(shape))
            throw new IllegalArgumentException(length + " values do not fill shape " + Arrays.toString(shape));
    }

    // ------------------------------------------------------------------ properties

    public Storage storage() { return storage; }
    public int[] shape() { return shape.clone(); }
    public int[] strides() { return strides.clone(); }
    public int offset() { return offset; }
    public int dim() { return shape.length; }
    public Backend backend() { return storage.backend(); }
    public DType dtype() { return backend().dtype(); }
    public Device device() { return backend().device(); }
    public int numel() { return Shapes.numel(shape); }

    /** Size of dimension {@code d}; negative d counts from the end. */
    public int size(int d) {
        return shape[Shapes.axis(d, shape.length)];
    }

    public boolean isContiguous() {
        return Arrays.equals(strides, Shapes.contiguousStrides(shape)) || numel() <= 1;
    }

    // ------------------------------------------------------------------ host access

    public float[] toFloatArray() {
        Tensor c = contiguousNoGrad();
        float[] out = new float[c.numel()];
        c.backend().readFloats(c.storage, c.offset, out, 0, out.length);
        return out;
    }

    public double[] toDoubleArray() {
        Tensor c = contiguousNoGrad();
        double[] out = new double[c.numel()];
        c.backend().readDoubles(c.storage, c.offset, out, 0, out.length);
        return out;
    }

    /** The value of a one-element tensor. */
    public double item() {
        if (numel() != 1) throw new IllegalStateException("item() needs one element, tensor has shape " + Arrays.toString(shape));
        return toDoubleArray()[0];
    }

    /** The element at the given index (slow: for tests and small reads). */
    public double get(int... index) {
        if (index.length != shape.length) throw new IllegalArgumentException("index " + Arrays.toString(index) + " for shape " + Arrays.toString(shape));
        int pos = offset;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " for shape " + Arrays.toString(shape));
            pos += index[i] * strides[i];
        }
        double[] v = new double[1];
        backend().readDoubles(storage, pos, v, 0, 1);
        return v[0];
    }

    // ------------------------------------------------------------------ copies and conversion

    /** A contiguous tensor with the same values: this one if already contiguous (differentiable). */
    public Tensor contiguous() {
        return isContiguous() ? this : Views.copy(this);
    }

    private Tensor contiguousNoGrad() {
        if (isContiguous()) return this;
        try (var _ = Autograd.noGrad()) {
            return Views.copy(this);
        }
    }

    /** A fresh contiguous copy (differentiable). */
    public Tensor copy() {
        return Views.copy(this);
    }

    /** This tensor's values in another element type (not differentiable across types). */
    public Tensor to(DType dtype) {
        return to(Backends.get(device(), dtype));
    }

    /** This tensor's values on another device (not differentiable across devices yet). */
    public Tensor to(Device device) {
        return to(Backends.get(device, dtype()));
    }

    /** This tensor's values moved to the given backend; returns this tensor if it is already there. */
    public Tensor to(Backend target) {
        if (target == backend()) return this;
        Storage s = target.dtype() == DType.FLOAT64 ? target.fromDoubles(toDoubleArray()) : target.fromFloats(toFloatArray());
        Tensor t = new Tensor(s, shape, Shapes.contiguousStrides(shape), 0);
        t.requiresGrad = requiresGrad && gradFn == null;
        return t;
    }

    /** Copies src's values into this tensor in place (broadcasting src); records no gradient. */
    public Tensor copyFrom(Tensor src) {
        if (src.backend() != backend()) src = src.to(backend());
        int[] srcStrides = Shapes.broadcastStrides(src.shape, src.strides, shape);
        backend().copy(shape, src.storage, src.offset, srcStrides, storage, offset, strides);
        return this;
    }

    /** Sets every element to value in place; records no gradient. */
    public Tensor fill(double value) {
        if (isContiguous()) backend().fill(this, value);
        else copyFrom(full(backend(), value, 1));
        return this;
    }

    // ------------------------------------------------------------------ autograd

    public boolean requiresGrad() { return requiresGrad; }

    /** Marks a leaf tensor as requiring (or not) a gradient. */
    public Tensor requiresGrad(boolean value) {
        if (gradFn != null) throw new IllegalStateException("requiresGrad can only be set on leaf tensors; this one comes from " + gradFn);
        requiresGrad = value;
        return this;
    }

    public boolean isLeaf() { return gradFn == null; }

    public Node gradFn() { return gradFn; }

    /** Accumulated gradient of a leaf, or null. */
    public Tensor grad() { return grad; }

    public void setGrad(Tensor grad) {
        if (grad != null && !Arrays.equals(grad.shape, shape))
            throw new IllegalArgumentException("grad shape " + Arrays.toString(grad.shape) + " does not match " + Arrays.toString(shape));
        this.grad = MemoryScope.keep(grad);
    }

    public void zeroGrad() { grad = null; }

    /** Called by the autograd engine. */
    public void attachGradFn(Node node) {
        this.gradFn = node;
        this.requiresGrad = true;
    }

    /** Called by the autograd engine: adds g to this leaf's gradient (never aliasing g). */
    public void accumulateGrad(Tensor g) {
        if (!requiresGrad) return;
        grad = MemoryScope.keep(grad == null ? Views.copy(g) : Elementwise.add(grad, g));
    }

    /** Backpropagates from this one-element tensor (e.g. a loss). */
    public void backward() {
        if (numel() != 1) throw new IllegalStateException("backward() without a gradient needs a one-element tensor, got shape " + Arrays.toString(shape));
        Autograd.backward(this, full(backend(), 1.0, shape));
    }

    /** Backpropagates {@code gradient}, shaped like this tensor. */
    public void backward(Tensor gradient) {
        Autograd.backward(this, gradient.to(backend()));
    }

    /** A view of the same storage that records no history and requires no grad. */
    public Tensor detach() {
        return new Tensor(storage, shape, strides, offset);
    }

    // ------------------------------------------------------------------ views (differentiable)

    public Tensor reshape(int... newShape) { return Views.reshape(this, newShape); }
    public Tensor view(int... newShape) { return Views.reshape(this, newShape); }
    public Tensor permute(int... order) { return Views.permute(this, order); }
    public Tensor transpose(int d0, int d1) { return Views.transpose(this, d0, d1); }
    /** Elements start ≤ i < end (step 1) along dimension dim. */
    public Tensor slice(int dim, int start, int end) { return Views.slice(this, dim, start, end); }
    public Tensor unsqueeze(int dim) { return Views.unsqueeze(this, dim); }
    public Tensor squeeze(int dim) { return Views.squeeze(this, dim); }
    public Tensor flatten(int startDim, int endDim) { return Views.flatten(this, startDim, endDim); }
    public Tensor expand(int... newShape) { return Views.expand(this, newShape); }

    // ------------------------------------------------------------------ arithmetic shortcuts (see dev.graft.ops)

    public Tensor add(Tensor o) { return Elementwise.add(this, o); }
    public Tensor sub(Tensor o) { return Elementwise.sub(this, o); }
    public Tensor mul(Tensor o) { return Elementwise.mul(this, o); }
    public Tensor div(Tensor o) { return Elementwise.div(this, o); }
    public Tensor add(double s) { return Elementwise.add(this, s); }
    public Tensor mul(double s) { return Elementwise.mul(this, s); }
    public Tensor pow(double p) { return Elementwise.pow(this, p); }
    public Tensor neg() { return Elementwise.unary(UnaryOp.NEG, this); }
    public Tensor exp() { return Elementwise.unary(UnaryOp.EXP, this); }
    public Tensor log() { return Elementwise.unary(UnaryOp.LOG, this); }
    public Tensor sqrt() { return Elementwise.unary(UnaryOp.SQRT, this); }
    public Tensor relu() { return Elementwise.unary(UnaryOp.RELU, this); }
    public Tensor sigmoid() { return Elementwise.unary(UnaryOp.SIGMOID, this); }
    public Tensor matmul(Tensor o) { return LinearAlgebra.matmul(this, o); }
    public Tensor sum() { return Reductions.sum(this); }
    public Tensor sum(int[] dims, boolean keepDim) { return Reductions.sum(this, dims, keepDim); }
    public Tensor mean() { return Reductions.mean(this); }
    public Tensor mean(int[] dims, boolean keepDim) { return Reductions.mean(this, dims, keepDim); }
    public Tensor softmax(int dim) { return Reductions.softmax(this, dim); }
    public Tensor logSoftmax(int dim) { return Reductions.logSoftmax(this, dim); }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Tensor(shape=").append(Arrays.toString(shape))
                .append(", dtype=").append(dtype()).append(", device=").append(device());
        if (gradFn != null) sb.append(", gradFn=").append(gradFn);
        else if (requiresGrad) sb.append(", requiresGrad=true");
        if (numel() <= 8 && device().type() == Device.Type.CPU) sb.append(", values=").append(Arrays.toString(toDoubleArray()));
        return sb.append(')').toString();
    }
}
