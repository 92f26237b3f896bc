package dev.graft.ops;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.BinaryOp;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/** Element-wise arithmetic with broadcasting, scalar arithmetic and activation functions. */
public final class Elementwise {
    private Elementwise() {}

    public static Tensor add(Tensor a, Tensor b) { return binary(BinaryOp.ADD, a, b); }
    public static Tensor sub(Tensor a, Tensor b) { return binary(BinaryOp.SUB, a, b); }
    public static Tensor mul(Tensor a, Tensor b) { return binary(BinaryOp.MUL, a, b); }
    public static Tensor div(Tensor a, Tensor b) { return binary(BinaryOp.DIV, a, b); }

    public static Tensor relu(Tensor x) { return unary(UnaryOp.RELU, x); }
    public static Tensor relu6(Tensor x) { return unary(UnaryOp.RELU6, x); }
    public static Tensor silu(Tensor x) { return unary(UnaryOp.SILU, x); }
    public static Tensor hardswish(Tensor x) { return unary(UnaryOp.HARDSWISH, x); }
    public static Tensor hardsigmoid(Tensor x) { return unary(UnaryOp.HARDSIGMOID, x); }
    public static Tensor sigmoid(Tensor x) { return unary(UnaryOp.SIGMOID, x); }
    public static Tensor tanh(Tensor x) { return unary(UnaryOp.TANH, x); }

    /** a ⊙ b with NumPy broadcasting. */
    public static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        checkSameBackend(op.name().toLowerCase(), a, b);
        int[] shape = Shapes.broadcast(a.shape(), b.shape());
        Tensor out = a.newEmpty(shape);
        a.backend().binary(op, shape,
                a, Shapes.broadcastStrides(a.shape(), a.strides(), shape),
                b, Shapes.broadcastStrides(b.shape(), b.strides(), shape), out);
        int[] aShape = a.shape(), bShape = b.shape();
        return Autograd.record(name(op), out, new Tensor[] {a, b}, g -> {
            Tensor ga = null, gb = null;
            switch (op) {
                case ADD -> {
                    if (a.requiresGrad()) ga = Reductions.sumTo(g, aShape);
                    if (b.requiresGrad()) gb = Reductions.sumTo(g, bShape);
                }
                case SUB -> {
                    if (a.requiresGrad()) ga = Reductions.sumTo(g, aShape);
                    if (b.requiresGrad()) gb = unary(UnaryOp.NEG, Reductions.sumTo(g, bShape));
                }
                case MUL -> {
                    if (a.requiresGrad()) ga = Reductions.sumTo(mul(g, b), aShape);
                    if (b.requiresGrad()) gb = Reductions.sumTo(mul(g, a), bShape);
                }
                case DIV -> {
                    if (a.requiresGrad()) ga = Reductions.sumTo(div(g, b), aShape);
                    // d(a/b)/db = -a / b²  =  -(out / b)
                    if (b.requiresGrad()) gb = Reductions.sumTo(unary(UnaryOp.NEG, mul(g, div(out, b))), bShape);
                }
            }
            return new Tensor[] {ga, gb};
        });
    }

    /** x ⊙ s for a scalar s. */
    public static Tensor scalar(ScalarOp op, Tensor x, double s) {
        Tensor xc = x.contiguous();
        Tensor out = x.newEmpty(x.shape());
        x.backend().scalar(op, xc, s, out);
        return Autograd.record(op.name().charAt(0) + op.name().substring(1).toLowerCase() + "Scalar", out, new Tensor[] {xc}, g -> {
            Tensor gx = switch (op) {
                case ADD -> g;
                case MUL -> mul(g, s);
                case POW -> mul(g, mul(pow(xc, s - 1), s));
                case RSUB -> unary(UnaryOp.NEG, g);
                case RDIV -> mul(g, mul(pow(xc, -2), -s)); // d(s/x)/dx = -s / x²
            };
            return new Tensor[] {gx};
        });
    }

    public static Tensor add(Tensor x, double s) { return scalar(ScalarOp.ADD, x, s); }
    public static Tensor mul(Tensor x, double s) { return scalar(ScalarOp.MUL, x, s); }
    public static Tensor pow(Tensor x, double p) { return scalar(ScalarOp.POW, x, p); }
    /** s − x. */
    public static Tensor rsub(double s, Tensor x) { return scalar(ScalarOp.RSUB, x, s); }
    /** s / x. */
    public static Tensor rdiv(double s, Tensor x) { return scalar(ScalarOp.RDIV, x, s); }

    /** y = f(x) for an activation or math function f. */
    public static Tensor unary(UnaryOp op, Tensor x) {
        Tensor xc = x.contiguous();
        Tensor out = x.newEmpty(x.shape());
        x.backend().unary(op, xc, out);
        return Autograd.record(name(op), out, new Tensor[] {xc}, g -> {
            Tensor gx = xc.newEmpty(xc.shape());
            xc.backend().unaryBackward(op, xc, g.contiguous(), gx);
            return new Tensor[] {gx};
        });
    }

    static void checkSameBackend(String op, Tensor a, Tensor b) {
        if (a.backend() != b.backend())
            throw new GraftException(op + ": tensors on different devices or dtypes (" + a.device() + "/" + a.dtype()
                    + " and " + b.device() + "/" + b.dtype() + "), shapes " + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()));
    }

    private static String name(Enum<?> op) {
        String n = op.name();
        return n.charAt(0) + n.substring(1).toLowerCase();
    }
}
