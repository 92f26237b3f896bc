package dev.graft.optim;

import dev.graft.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A set of parameters with their own hyper-parameters, as a PyTorch param group: a learning rate, a
 * weight decay and optimizer-specific options ({@code momentum}, {@code dampening}, {@code nesterov}
 * for {@link SGD}; {@code beta1}, {@code beta2}, {@code eps} for {@link AdamW}). Anything left unset
 * takes the optimizer's default when the group joins an optimizer. Example:
 * <pre>{@code
 * new SGD(List.of(new ParamGroup(backbone.parameters()).withLr(1e-4),
 *                 new ParamGroup(head.parameters())),           // lr from the defaults
 *         SGD.Options.lr(1e-2).withMomentum(0.9));
 * }</pre>
 * {@link #lr()} changes as schedulers run; {@link #initialLr()} keeps the value the group started
 * with (PyTorch's {@code initial_lr}), the base that {@link Scheduler} scales.
 */
public final class ParamGroup {
    private final List<Tensor> params;
    private Double lr, weightDecay, initialLr;
    private final Map<String, Object> options = new LinkedHashMap<>();

    public ParamGroup(List<Tensor> params) {
        this.params = List.copyOf(params);
    }

    public static ParamGroup of(List<Tensor> params) {
        return new ParamGroup(params);
    }

    /** Sets this group's learning rate (before it joins an optimizer, or at any time). */
    public ParamGroup withLr(double lr) {
        setLr(lr);
        return this;
    }

    public ParamGroup withWeightDecay(double weightDecay) {
        setWeightDecay(weightDecay);
        return this;
    }

    /** Sets an optimizer-specific option: a Double (momentum, dampening, beta1, beta2, eps) or a Boolean (nesterov). */
    public ParamGroup with(String option, Object value) {
        options.put(Objects.requireNonNull(option), Objects.requireNonNull(value, () -> "option " + option + " is null"));
        return this;
    }

    public List<Tensor> params() {
        return params;
    }

    /** The current learning rate (NaN until set here or by an optimizer's defaults). */
    public double lr() {
        return lr == null ? Double.NaN : lr;
    }

    public void setLr(double lr) {
        this.lr = lr;
    }

    /** The learning rate when the group joined its optimizer (NaN before). */
    public double initialLr() {
        return initialLr == null ? Double.NaN : initialLr;
    }

    public double weightDecay() {
        return weightDecay == null ? Double.NaN : weightDecay;
    }

    public void setWeightDecay(double weightDecay) {
        this.weightDecay = weightDecay;
    }

    /** An option's value, or null when unset. */
    public Object option(String name) {
        return options.get(name);
    }

    /** A numeric option (after the optimizer filled in defaults). */
    public double doubleOption(String name) {
        Object v = options.get(name);
        if (!(v instanceof Number n)) throw new IllegalStateException("option " + name + " is " + v + ", not a number");
        return n.doubleValue();
    }

    /** A boolean option (after the optimizer filled in defaults). */
    public boolean booleanOption(String name) {
        Object v = options.get(name);
        if (!(v instanceof Boolean b)) throw new IllegalStateException("option " + name + " is " + v + ", not a boolean");
        return b;
    }

    /** The options set on this group (a copy). */
    public Map<String, Object> options() {
        return new LinkedHashMap<>(options);
    }

    /** Called by {@link Optimizer}: fills unset values from the defaults and records the initial lr. */
    void applyDefaults(double defaultLr, double defaultWeightDecay, Map<String, Object> defaultOptions) {
        if (lr == null) lr = defaultLr;
        if (weightDecay == null) weightDecay = defaultWeightDecay;
        for (var e : defaultOptions.entrySet()) options.putIfAbsent(e.getKey(), e.getValue());
        if (initialLr == null) initialLr = lr;
    }

    @Override
    public String toString() {
        return "ParamGroup(" + params.size() + " tensors, lr=" + lr() + ", weight_decay=" + weightDecay() + ", " + options + ")";
    }
}
