package dev.graft.backend;

/** Element-wise functions y = f(x); each backend implements f and f'. */
public enum UnaryOp {
    RELU, RELU6, SILU, HARDSWISH, HARDSIGMOID, SIGMOID, TANH, EXP, LOG, NEG, SQRT, SQUARE, ABS
}
