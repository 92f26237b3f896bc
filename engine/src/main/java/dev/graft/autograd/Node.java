package dev.graft.autograd;

import dev.graft.tensor.Tensor;

/**
 * One recorded operation on the tape: the inputs it read and the function that maps the gradient of
 * its output to the gradients of its inputs.
 */
public final class Node {
    /** Maps the output's gradient to one gradient per input (null where an input needs none). */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor gradOutput);
    }

    private final String name;
    private final Tensor[] inputs;
    private final Backward backward;

    Node(String name, Tensor[] inputs, Backward backward) {
        this.name = name;
        this.inputs = inputs;
        this.backward = backward;
    }

    public String name() { return name; }

    public Tensor[] inputs() { return inputs; }

    Tensor[] apply(Tensor gradOutput) { return backward.apply(gradOutput); }

    @Override
    public String toString() { return name + "Backward"; }
}
