package dev.graft.backend;

/** Element-wise binary functions with NumPy broadcasting. */
public enum BinaryOp {
    ADD, SUB, MUL, DIV
}
