package dev.graft.parity;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.io.Npy;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.function.Function;

/**
 * Runs one fixture case through Graft: builds the inputs (float32 CPU tensors, or converted with
 * {@code Tensor.to(FLOAT64)} for the reference backend), runs the op, backpropagates the stored dy and
 * compares the output, every input gradient and any extra outputs with the torch reference.
 */
public final class OpCase {
    /** Allowed relative error (see {@link Compare}). */
    public static final double TOLERANCE = 1e-5;

    private final Fixtures.Case spec;
    private final DType dtype;
    private final Map<String, Npy.Array> arrays;
    private final Map<String, Tensor> inputs = new LinkedHashMap<>();
    private final Map<String, Tensor> gradSources = new HashMap<>();
    private final Map<String, Tensor> extraSources = new HashMap<>();

    private OpCase(Fixtures.Case spec, DType dtype) {
        this.spec = spec;
        this.dtype = dtype;
        this.arrays = spec.arrays();
        for (String name : spec.inputs()) {
            Npy.Array a = array(name);
            if (a.type().kind() != Npy.Kind.FLOAT) continue; // indices (targets): read with ints()
            Tensor t = a.toTensor(DType.FLOAT32); // the stored inputs are float32
            if (dtype != DType.FLOAT32) t = t.to(dtype);
            if (spec.grads().contains(name)) t.requiresGrad(true);
            inputs.put(name, t);
        }
    }

    /**
     * Runs {@code op} on case {@code spec} in {@code dtype} and checks everything; returns a one-line
     * summary of the errors.
     */
    public static String run(Fixtures.Case spec, DType dtype, Function<OpCase, Tensor> op) {
        OpCase c = new OpCase(spec, dtype);
        Tensor out = op.apply(c);
        if (out == null) throw new AssertionError(spec.name() + ": op returned null");
        Npy.Array dy = c.array("dy");
        if (!spec.grads().isEmpty()) out.backward(dy.toTensor(DType.FLOAT32).to(out.dtype()));
        StringJoiner summary = new StringJoiner(", ", spec.name() + " [" + dtype + "] ", "");
        List<AssertionError> failures = new ArrayList<>();
        c.compare("out", out, c.array("out"), summary, failures);
        for (String g : spec.grads()) {
            Tensor src = c.gradSources.getOrDefault(g, c.inputs.get(g));
            c.compare("grad." + g, src == null ? null : src.grad(), c.array("grad." + g), summary, failures);
        }
        for (String e : spec.extraOutputs()) {
            Tensor src = c.extraSources.getOrDefault(e, c.inputs.get(e));
            c.compare("out." + e, src, c.array("out." + e), summary, failures);
        }
        if (!failures.isEmpty()) {
            StringBuilder sb = new StringBuilder(spec.name() + " [" + dtype + "] differs from torch " + Fixtures.manifest().path("torch_version").asText() + ":");
            for (AssertionError f : failures) sb.append("\n  ").append(f.getMessage());
            AssertionError err = new AssertionError(sb.toString());
            failures.forEach(err::addSuppressed);
            throw err;
        }
        return summary.toString();
    }

    private void compare(String what, Tensor graft, Npy.Array ref, StringJoiner summary, List<AssertionError> failures) {
        try {
            double rel = Compare.check(what, graft, ref, TOLERANCE);
            summary.add(what + " " + Compare.fmt(rel));
        } catch (AssertionError e) {
            summary.add(what + " FAIL");
            failures.add(e);
        }
    }

    // ------------------------------------------------------------------ for the op lambdas

    /** The input tensor {@code name} (requires grad when the case differentiates it). */
    public Tensor in(String name) {
        Tensor t = inputs.get(name);
        if (t == null) throw new AssertionError(spec.name() + ": no float input '" + name + "' (inputs: " + inputs.keySet() + ")");
        return t;
    }

    /** The input tensor {@code name}, or null when the case has none (e.g. no bias). */
    public Tensor optional(String name) {
        return inputs.get(name);
    }

    /** Every float input in manifest order. */
    public List<Tensor> all() {
        return new ArrayList<>(inputs.values());
    }

    /** An integer input (e.g. class targets). */
    public int[] ints(String name) {
        return array(name).toIntArray();
    }

    public DType dtype() {
        return dtype;
    }

    public JsonNode params() {
        return spec.params();
    }

    public int param(String key) {
        return need(key).asInt();
    }

    public double doubleParam(String key) {
        return need(key).asDouble();
    }

    public boolean flag(String key) {
        return need(key).asBoolean();
    }

    /** An int-list parameter; null when it is JSON null. */
    public int[] intsParam(String key) {
        JsonNode n = need(key);
        if (n.isNull()) return null;
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) out[i] = n.get(i).asInt();
        return out;
    }

    /** Compare grad.{name} with the gradient of {@code t} (e.g. a module's parameter) instead of the input's. */
    public void gradOf(String name, Tensor t) {
        gradSources.put(name, t);
    }

    /** Compare out.{name} with {@code t} instead of the (mutated) input of that name. */
    public void extra(String name, Tensor t) {
        extraSources.put(name, t);
    }

    private JsonNode need(String key) {
        JsonNode n = spec.params().get(key);
        if (n == null) throw new AssertionError(spec.name() + ": manifest params lack '" + key + "': " + spec.params());
        return n;
    }

    private Npy.Array array(String name) {
        Npy.Array a = arrays.get(name);
        if (a == null) throw new AssertionError(spec.name() + ": fixture " + spec.file() + " lacks array '" + name + "' (has " + arrays.keySet() + ")");
        return a;
    }
}
