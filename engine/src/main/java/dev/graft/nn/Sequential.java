package dev.graft.nn;

import dev.graft.tensor.Tensor;

/**
 * torch.nn.Sequential: runs its children in order. Children added without a name are named by their
 * position ("0", "1", …), which makes the state-dict keys PyTorch's ({@code features.0.weight}).
 */
public class Sequential extends Module {
    public Sequential(Module... modules) {
        for (Module m : modules) add(m);
    }

    /** Appends a module named by its position; returns this container. */
    public Sequential add(Module m) {
        return add(Integer.toString(size()), m);
    }

    /** Appends (or replaces) a named module; returns this container. */
    public Sequential add(String name, Module m) {
        register(name, m);
        return this;
    }

    /** The i-th child (registration order). */
    public Module get(int i) {
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("index " + i + " in a Sequential of " + size() + " modules");
        return children().get(i);
    }

    /** Replaces the i-th child, keeping its name. */
    public void set(int i, Module m) {
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("index " + i + " in a Sequential of " + size() + " modules");
        register(namedChildren().sequencedKeySet().stream().skip(i).findFirst().orElseThrow(), m);
    }

    public int size() {
        return namedChildren().size();
    }

    @Override
    public Tensor forward(Tensor x) {
        for (Module m : children()) x = m.forward(x);
        return x;
    }
}
