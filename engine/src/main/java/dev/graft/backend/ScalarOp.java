package dev.graft.backend;

/** Element-wise functions of a tensor and a scalar s: x + s, x * s, x ^ s, s - x, s / x. */
public enum ScalarOp {
    ADD, MUL, POW, RSUB, RDIV
}
