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

    // ------------------------------------------------------------------ state (for resuming)

    /**
     * The per-parameter state (momentum buffers, Adam moments and step counts) as tensors named
     * {@code <index>.<key>}, where index counts parameters over all groups in order (as PyTorch's
     * optimizer state_dict). The tensors are copies. Learning rates are not included: schedules set them.
     */
    public java.util.LinkedHashMap<String, Tensor> stateDict() {
        java.util.LinkedHashMap<String, Tensor> out = new java.util.LinkedHashMap<>();
        int i = 0;
        for (ParamGroup g : groups)
            for (Tensor p : g.params()) {
                for (var e : paramState(p).entrySet()) out.put(i + "." + e.getKey(), e.getValue().detach().copy());
                i++;
            }
        return out;
    }

    /** Restores {@link #stateDict()}'s output into an optimizer over parameters of the same shapes and order. */
    public void loadStateDict(Map<String, Tensor> state) {
        java.util.Map<Integer, java.util.Map<String, Tensor>> byParam = new java.util.HashMap<>();
        for (var e : state.entrySet()) {
            int dot = e.getKey().indexOf('.');
            int index;
            try {
                index = Integer.parseInt(e.getKey().substring(0, Math.max(dot, 0)));
            } catch (NumberFormatException ex) {
                throw new GraftException(name() + ": unexpected optimizer state key '" + e.getKey() + "'");
            }
            byParam.computeIfAbsent(index, k -> new java.util.HashMap<>()).put(e.getKey().substring(dot + 1), e.getValue());
        }
        int i = 0;
        for (ParamGroup g : groups)
            for (Tensor p : g.params()) {
                var s = byParam.remove(i++);
                if (s != null) setParamState(p, s);
            }
        if (!byParam.isEmpty()) throw new GraftException(name() + ": optimizer state for parameters " + byParam.keySet() + " that this optimizer does not have");
    }

    /** A parameter's state by key (empty before its first step). */
    protected abstract Map<String, Tensor> paramState(Tensor param);

    /** Sets a parameter's state from {@link #paramState}'s keys; shapes must match the parameter. */
    protected abstract void setParamState(Tensor param, Map<String, Tensor> state);

    /** A state tensor checked against its parameter's shape and copied onto the parameter's backend. */
    protected Tensor stateLike(Tensor param, Map<String, Tensor> state, String key) {
        Tensor t = state.get(key);
        if (t == null) throw new GraftException(name() + ": optimizer state lacks '" + key + "'");
        if (!java.util.Arrays.equals(t.shape(), param.shape()))
            throw new GraftException(name() + ": optimizer state '" + key + "' has shape " + java.util.Arrays.toString(t.shape())
                    + ", its parameter " + java.util.Arrays.toString(param.shape()));
        return param.newZeros(param.shape()).copyFrom(t);
    }
}
