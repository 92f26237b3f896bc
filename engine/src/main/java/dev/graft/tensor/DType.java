package dev.graft.tensor;

/** Element type of a tensor. FLOAT32 is the working type; FLOAT64 serves gradient checks. */
public enum DType {
    FLOAT32(4, "float32"),
    FLOAT64(8, "float64");

    private final int byteSize;
    private final String pyName;

    DType(int byteSize, String pyName) {
        this.byteSize = byteSize;
        this.pyName = pyName;
    }

    public int byteSize() {
        return byteSize;
    }

    /** The name NumPy and PyTorch use for this type. */
    public String pyName() {
        return pyName;
    }

    @Override
    public String toString() {
        return pyName;
    }
}
