package dev.graft.nn;

import dev.graft.GraftException;
import dev.graft.autograd.Autograd;
import dev.graft.backend.Backend;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A layer or a tree of layers, as {@code torch.nn.Module}: it owns named parameters (leaf tensors that
 * require gradients), named buffers (state such as BatchNorm's running statistics) and named child
 * modules, all kept in registration order. Names join with dots, so a model's {@link #stateDict()}
 * keys are exactly PyTorch's (e.g. {@code layer1.0.bn1.running_mean}).
 *
 * <p><b>Modes.</b> {@link #train()} / {@link #eval()} switch Dropout and BatchNorm behaviour for the
 * whole sub-tree. {@link #freeze()} stops a sub-tree from learning: its parameters stop requiring
 * gradients (so optimizers skip them) and its BatchNorm layers normalize with their running statistics
 * without updating them, even while the model trains. {@link #unfreeze()} undoes both.
 * {@link #setBatchNormInference(boolean)} freezes only the BatchNorm statistics, so a fine-tuning
 * phase can train every parameter while keeping the statistics fixed (Keras' behaviour).
 *
 * <p><b>Identity of tensors.</b> {@link #loadStateDict} copies values into the existing tensors, so
 * references to parameters stay valid. {@link #to(Backend)} cannot move a tensor in place: it replaces
 * each parameter and buffer with a new tensor on the target backend. Create optimizers after moving a
 * model, and read parameters through the module (e.g. {@link #getParameter}) rather than caching them.
 * Layers here look their tensors up by name on every forward for the same reason.
 */
public abstract class Module {
    private final LinkedHashMap<String, Tensor> params = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> buffers = new LinkedHashMap<>();
    private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;
    private boolean frozen;
    private boolean batchNormInference;

    /** Runs the layer. */
    public abstract Tensor forward(Tensor x);

    // ================================================================== registration

    /**
     * Registers (or replaces) the child module {@code name} and returns it. Registration order is the
     * order of {@link #children()} and of the state dict.
     */
    protected <M extends Module> M register(String name, M child) {
        checkName(name, "module");
        Objects.requireNonNull(child, () -> "module '" + name + "' is null");
        if (child == this) throw new IllegalArgumentException("a module cannot be its own child ('" + name + "')");
        if (params.containsKey(name) || buffers.containsKey(name))
            throw new IllegalArgumentException("'" + name + "' is already a parameter or buffer of " + typeName());
        children.put(name, child);
        return child;
    }

    /**
     * Registers (or replaces) the parameter {@code name}: {@code t} becomes a leaf requiring a gradient
     * unless this module is frozen. A null tensor registers nothing (PyTorch's {@code bias=None}) and
     * removes an existing parameter of that name. Returns {@code t}.
     */
    protected Tensor parameter(String name, Tensor t) {
        checkName(name, "parameter");
        if (buffers.containsKey(name) || children.containsKey(name))
            throw new IllegalArgumentException("'" + name + "' is already a buffer or module of " + typeName());
        if (t == null) {
            params.remove(name);
            return null;
        }
        if (!t.isLeaf()) throw new IllegalArgumentException("parameter '" + name + "' must be a leaf tensor, it comes from " + t.gradFn());
        t.requiresGrad(!frozen);
        params.put(name, t);
        return t;
    }

    /**
     * Registers (or replaces) the buffer {@code name}: state saved in the state dict but not trained
     * (it never requires a gradient). A null tensor removes it. Returns {@code t}.
     */
    protected Tensor buffer(String name, Tensor t) {
        checkName(name, "buffer");
        if (params.containsKey(name) || children.containsKey(name))
            throw new IllegalArgumentException("'" + name + "' is already a parameter or module of " + typeName());
        if (t == null) {
            buffers.remove(name);
            return null;
        }
        if (t.requiresGrad()) throw new IllegalArgumentException("buffer '" + name + "' must not require a gradient");
        buffers.put(name, t);
        return t;
    }

    private static void checkName(String name, String what) {
        if (name == null || name.isEmpty() || name.contains("."))
            throw new IllegalArgumentException(what + " name must be non-empty and contain no '.', got '" + name + "'");
    }

    /** This module's own parameter {@code name} (not dotted), or null. */
    protected Tensor param(String name) {
        return params.get(name);
    }

    /** This module's own buffer {@code name} (not dotted), or null. */
    protected Tensor buf(String name) {
        return buffers.get(name);
    }

    /** This module's own child {@code name} (not dotted), or null. */
    protected Module child(String name) {
        return children.get(name);
    }

    // ================================================================== traversal

    /** Direct children in registration order. */
    public List<Module> children() {
        return List.copyOf(children.values());
    }

    /** Direct children by name, in registration order (a copy). */
    public LinkedHashMap<String, Module> namedChildren() {
        return new LinkedHashMap<>(children);
    }

    /**
     * This module (name "") and every descendant, pre-order, by dotted path; a module reachable twice is
     * listed once, under its first path (as PyTorch).
     */
    public LinkedHashMap<String, Module> namedModules() {
        LinkedHashMap<String, Module> out = new LinkedHashMap<>();
        collectModules("", this, out, Collections.newSetFromMap(new IdentityHashMap<>()));
        return out;
    }

    private static void collectModules(String prefix, Module m, Map<String, Module> out, Set<Module> seen) {
        if (!seen.add(m)) return;
        out.put(prefix, m);
        for (var e : m.children.entrySet()) collectModules(join(prefix, e.getKey()), e.getValue(), out, seen);
    }

    /** The descendant at a dotted path such as {@code layer1.0.conv1}; "" is this module. */
    public Module module(String dottedPath) {
        if (dottedPath.isEmpty()) return this;
        Module m = this;
        String walked = "";
        for (String part : dottedPath.split("\\.", -1)) {
            Module next = m.children.get(part);
            if (next == null)
                throw new GraftException("no module '" + dottedPath + "' in " + typeName() + ": '" + join(walked, part)
                        + "' does not exist" + (m.children.isEmpty() ? "" : " (children of '" + walked + "': " + String.join(", ", m.children.keySet()) + ")"));
            walked = join(walked, part);
            m = next;
        }
        return m;
    }

    /**
     * Replaces (or adds) the module at a dotted path, e.g. {@code setModule("fc", new Linear(512, 10, true))}
     * to swap a classifier head. The parent must exist. Code that keeps the old child in a field keeps
     * using it: containers here ({@link Sequential}) and modules that look children up by name see the new one.
     */
    public void setModule(String dottedPath, Module replacement) {
        int dot = dottedPath.lastIndexOf('.');
        Module parent = dot < 0 ? this : module(dottedPath.substring(0, dot));
        parent.register(dottedPath.substring(dot + 1), replacement);
    }

    /** Calls fn on every descendant and then on this module (children first, as torch's Module.apply). */
    public Module apply(Consumer<Module> fn) {
        for (Module c : children.values()) c.apply(fn);
        fn.accept(this);
        return this;
    }

    /** Every parameter of the sub-tree by dotted name, pre-order per module; shared tensors listed once. */
    public LinkedHashMap<String, Tensor> namedParameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (var m : namedModules().entrySet())
            for (var p : m.getValue().params.entrySet())
                if (seen.add(p.getValue())) out.put(join(m.getKey(), p.getKey()), p.getValue());
        return out;
    }

    /** Every buffer of the sub-tree by dotted name, pre-order per module; shared tensors listed once. */
    public LinkedHashMap<String, Tensor> namedBuffers() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (var m : namedModules().entrySet())
            for (var b : m.getValue().buffers.entrySet())
                if (seen.add(b.getValue())) out.put(join(m.getKey(), b.getKey()), b.getValue());
        return out;
    }

    /** All parameters (see {@link #namedParameters()}). */
    public List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** The parameters that currently require a gradient (not frozen). */
    public List<Tensor> trainableParameters() {
        return namedParameters().values().stream().filter(Tensor::requiresGrad).toList();
    }

    /** The parameter at a dotted name such as {@code fc.weight}. */
    public Tensor getParameter(String dottedName) {
        int dot = dottedName.lastIndexOf('.');
        Module owner = dot < 0 ? this : module(dottedName.substring(0, dot));
        Tensor t = owner.params.get(dottedName.substring(dot + 1));
        if (t == null) throw new GraftException("no parameter '" + dottedName + "' in " + typeName());
        return t;
    }

    /** The buffer at a dotted name such as {@code bn1.running_mean}. */
    public Tensor getBuffer(String dottedName) {
        int dot = dottedName.lastIndexOf('.');
        Module owner = dot < 0 ? this : module(dottedName.substring(0, dot));
        Tensor t = owner.buffers.get(dottedName.substring(dot + 1));
        if (t == null) throw new GraftException("no buffer '" + dottedName + "' in " + typeName());
        return t;
    }

    /**
     * Parameters and buffers by dotted name in PyTorch's state_dict order: for each module, its own
     * parameters, then its own buffers, then its children recursively. The tensors are the module's
     * own (not copies); shared tensors appear under every name.
     */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collectState("", this, out);
        return out;
    }

    private static void collectState(String prefix, Module m, Map<String, Tensor> out) {
        for (var p : m.params.entrySet()) out.put(join(prefix, p.getKey()), p.getValue());
        for (var b : m.buffers.entrySet()) out.put(join(prefix, b.getKey()), b.getValue());
        for (var c : m.children.entrySet()) collectState(join(prefix, c.getKey()), c.getValue(), out);
    }

    /** Number of parameter elements (shared tensors counted once). */
    public long numParameters() {
        long n = 0;
        for (Tensor t : namedParameters().values()) n += t.numel();
        return n;
    }

    /** Number of elements of the parameters that require a gradient. */
    public long numTrainableParameters() {
        long n = 0;
        for (Tensor t : trainableParameters()) n += t.numel();
        return n;
    }

    // ================================================================== loading and moving

    /**
     * Copies {@code state}'s values into this module's parameters and buffers in place (no gradient is
     * recorded; element type and backend are converted as needed). Any shape mismatch throws a
     * {@link GraftException} naming the key and both shapes, before anything is copied. With
     * {@code strict}, keys this module has that {@code state} lacks (missing) or keys {@code state} has
     * that this module lacks (unexpected) also throw, listing both; otherwise they are returned.
     */
    public LoadResult loadStateDict(Map<String, Tensor> state, boolean strict) {
        LinkedHashMap<String, Tensor> own = stateDict();
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<String> mismatches = new ArrayList<>();
        for (var e : own.entrySet()) {
            Tensor src = state.get(e.getKey());
            if (src == null) {
                missing.add(e.getKey());
                continue;
            }
            if (!Arrays.equals(src.shape(), e.getValue().shape()))
                mismatches.add("size mismatch for " + e.getKey() + ": copying a tensor of shape " + Arrays.toString(src.shape())
                        + " from the state dict, the shape in the current model is " + Arrays.toString(e.getValue().shape()));
        }
        for (String k : state.keySet()) if (!own.containsKey(k)) unexpected.add(k);
        if (!mismatches.isEmpty())
            throw new GraftException("error loading state dict into " + typeName() + ": " + String.join("; ", mismatches));
        if (strict && (!missing.isEmpty() || !unexpected.isEmpty()))
            throw new GraftException("error loading state dict into " + typeName() + ": missing keys " + missing
                    + ", unexpected keys " + unexpected);
        try (var _ = Autograd.noGrad()) {
            for (var e : own.entrySet()) {
                Tensor src = state.get(e.getKey());
                if (src != null && src != e.getValue()) e.getValue().copyFrom(src);
            }
        }
        return new LoadResult(List.copyOf(missing), List.copyOf(unexpected));
    }

    /** {@link #loadStateDict(Map, boolean)} in strict mode. */
    public LoadResult loadStateDict(Map<String, Tensor> state) {
        return loadStateDict(state, true);
    }

    /**
     * Moves every parameter and buffer of the sub-tree to {@code backend} (device and element type),
     * replacing the tensors (parameters stay leaves with the same requiresGrad; gradients are dropped).
     * Tensors already there are kept. Create optimizers after this call. Returns this module.
     */
    public Module to(Backend backend) {
        Map<Tensor, Tensor> moved = new IdentityHashMap<>(); // keeps shared tensors shared
        for (Module m : namedModules().values()) {
            for (var e : m.params.entrySet()) e.setValue(moved.computeIfAbsent(e.getValue(), t -> t.to(backend)));
            for (var e : m.buffers.entrySet()) e.setValue(moved.computeIfAbsent(e.getValue(), t -> t.to(backend)));
        }
        return this;
    }

    // ================================================================== modes

    /** Training mode for the whole sub-tree (Dropout active, BatchNorm uses and updates batch statistics). */
    public Module train() {
        return train(true);
    }

    /** Sets training (true) or evaluation (false) mode on the whole sub-tree. */
    public Module train(boolean mode) {
        for (Module m : namedModules().values()) m.training = mode;
        return this;
    }

    /** Evaluation mode for the whole sub-tree. */
    public Module eval() {
        return train(false);
    }

    public boolean isTraining() {
        return training;
    }

    /**
     * Freezes the sub-tree: its parameters stop requiring gradients (their gradients are cleared, so
     * optimizers skip them) and its BatchNorm layers normalize with their running statistics without
     * updating them, whatever the training mode.
     */
    public Module freeze() {
        return setFrozen(true);
    }

    /** Undoes {@link #freeze()} on the sub-tree: parameters require gradients again and BatchNorm trains. */
    public Module unfreeze() {
        return setFrozen(false);
    }

    private Module setFrozen(boolean value) {
        for (Module m : namedModules().values()) {
            m.frozen = value;
            for (Tensor p : m.params.values()) {
                p.requiresGrad(!value);
                if (value) p.zeroGrad();
            }
        }
        return this;
    }

    /** Whether {@link #freeze()} was applied to this module (directly or through an ancestor). */
    public boolean isFrozen() {
        return frozen;
    }

    /**
     * With true, every BatchNorm layer of the sub-tree normalizes with its running statistics and leaves
     * them untouched even in training mode, while its affine parameters keep training unless frozen.
     * Independent of {@link #freeze()}/{@link #unfreeze()}.
     */
    public Module setBatchNormInference(boolean value) {
        for (Module m : namedModules().values()) m.batchNormInference = value;
        return this;
    }

    public boolean isBatchNormInference() {
        return batchNormInference;
    }

    // ================================================================== printing

    /** The text inside this module's parentheses in {@link #toString()}, as PyTorch's extra_repr. */
    protected String extraRepr() {
        return "";
    }

    /** The type name shown by {@link #toString()}. */
    protected String typeName() {
        String s = getClass().getSimpleName();
        return s.isEmpty() ? getClass().getName() : s;
    }

    /**
     * A tree like PyTorch's repr: {@code Sequential(\n  (0): Conv2d(3, 8, kernel_size=(3, 3), ...)\n)}; the
     * extra representation goes inline for a leaf and on its own line above the children otherwise.
     */
    @Override
    public String toString() {
        List<String> lines = new ArrayList<>();
        String extra = extraRepr();
        if (!extra.isEmpty()) lines.addAll(Arrays.asList(extra.split("\n", -1)));
        for (var e : children.entrySet())
            lines.add("(" + e.getKey() + "): " + e.getValue().toString().replace("\n", "\n  "));
        StringBuilder sb = new StringBuilder(typeName()).append('(');
        if (lines.size() == 1 && children.isEmpty()) sb.append(lines.get(0));
        else if (!lines.isEmpty()) sb.append("\n  ").append(String.join("\n  ", lines)).append('\n');
        return sb.append(')').toString();
    }

    // ================================================================== helpers

    static String join(String prefix, String name) {
        return prefix.isEmpty() ? name : prefix + "." + name;
    }

    /** Python's repr of a float (1e-05, 0.1, 1.0), for {@link #extraRepr()}. */
    protected static String pyFloat(double v) {
        if (Double.isNaN(v)) return "nan";
        if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e16) return (long) v + ".0";
        double a = Math.abs(v);
        if (a >= 1e-4 && a < 1e16) return new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
        String s = Double.toString(v);                 // e.g. 1.0E-5
        int e = s.indexOf('E');
        String mant = s.substring(0, e);
        if (mant.endsWith(".0")) mant = mant.substring(0, mant.length() - 2);
        int exp = Integer.parseInt(s.substring(e + 1));
        return mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }

    /** (a, b) as Python prints a tuple of ints. */
    protected static String tuple(int[] v) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ", ").append(v[i]);
        return sb.append(v.length == 1 ? ",)" : ")").toString();
    }

    /** True/False as Python prints a bool. */
    protected static String pyBool(boolean b) {
        return b ? "True" : "False";
    }
}
