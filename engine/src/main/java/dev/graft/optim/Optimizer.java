package dev.graft.optim;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Updates parameters from their gradients, as torch.optim.Optimizer. Parameters are grouped into
 * {@link ParamGroup}s with their own learning rate and options. {@link #step()} skips parameters that
 * do not require a gradient (frozen) or have none, so frozen layers are never changed, not even by
 * weight decay. Per-parameter state (momentum buffers, Adam moments, step counts) is kept by tensor
 * identity on the parameter's backend, and the update runs there as one fused backend kernel.
 *
 * <p>Parameters must be contiguous leaf tensors, and the optimizer must be created after the model
 * is moved with {@code Module.to(Backend)} (which replaces the tensors).
 */
public abstract class Optimizer {
    private final List<ParamGroup> groups = new ArrayList<>();
    private final Set<Tensor> known = Collections.newSetFromMap(new IdentityHashMap<>());
    private final double defaultLr, defaultWeightDecay;
    private final Map<String, Object> defaultOptions;

    protected Optimizer(List<ParamGroup> groups, double defaultLr, double defaultWeightDecay, Map<String, Object> defaultOptions) {
        this.defaultLr = defaultLr;
        this.defaultWeightDecay = defaultWeightDecay;
        this.defaultOptions = Map.copyOf(defaultOptions);
        if (groups.isEmpty()) throw new GraftException(name() + ": no parameter groups given");
        for (ParamGroup g : groups) addParamGroup(g);
    }

    /** The optimizer's name for messages ("SGD", "AdamW"). */
    protected String name() {
        return getClass().getSimpleName();
    }

    /**
     * Adds a group (e.g. a newly unfrozen part of the model); unset values take this optimizer's
     * defaults. A parameter may belong to one group only.
     */
    public void addParamGroup(ParamGroup group) {
        for (String k : group.options().keySet())
            if (!defaultOptions.containsKey(k))
                throw new GraftException(name() + ": unknown option '" + k + "' (known: " + String.join(", ", new java.util.TreeSet<>(defaultOptions.keySet())) + ")");
        group.applyDefaults(defaultLr, defaultWeightDecay, defaultOptions);
        validate(group);
        Set<Tensor> mine = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Tensor p : group.params()) {
            if (!p.isLeaf()) throw new GraftException(name() + ": can't optimize a non-leaf tensor " + p);
            if (known.contains(p) || !mine.add(p))
                throw new GraftException(name() + ": a parameter appears more than once in the parameter groups");
        }
        known.addAll(mine);
        groups.add(group);
    }

    /** Checks a group's values once defaults are filled in; throws GraftException. */
    protected void validate(ParamGroup g) {
        if (!(g.lr() >= 0)) throw new GraftException(name() + ": invalid learning rate " + g.lr());
        if (!(g.weightDecay() >= 0)) throw new GraftException(name() + ": invalid weight decay " + g.weightDecay());
    }

    /** The groups, in order (live objects: setting a group's lr takes effect on the next step). */
    public List<ParamGroup> paramGroups() {
        return Collections.unmodifiableList(groups);
    }

    /** Sets every group's learning rate. */
    public void setLr(double lr) {
        for (ParamGroup g : groups) g.setLr(lr);
    }

    /** Sets one group's learning rate. */
    public void setLr(int group, double lr) {
        groups.get(group).setLr(lr);
    }

    /** Clears every parameter's gradient (sets it to null, as PyTorch's default set_to_none). */
    public void zeroGrad() {
        for (ParamGroup g : groups) for (Tensor p : g.params()) p.zeroGrad();
    }

    /** Applies one update to every parameter that requires a gradient and has one. */
    public void step() {
        try (var _ = Autograd.noGrad()) {
            for (ParamGroup g : groups) {
                for (Tensor p : g.params()) {
                    if (!p.requiresGrad() || p.grad() == null) continue;
                    if (!p.isContiguous())
                        throw new IllegalStateException(name() + ": parameter of shape " + java.util.Arrays.toString(p.shape()) + " is not contiguous");
                    Tensor grad = p.grad();
                    if (grad.backend() != p.backend()) grad = grad.to(p.backend());
                    update(g, p, grad.contiguous());
                }
            }
        }
    }

    /** Updates one parameter in place from its contiguous gradient on the same backend (grad mode off). */
    protected abstract void update(ParamGroup group, Tensor param, Tensor grad);
}
