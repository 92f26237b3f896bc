package dev.graft.graph;

import dev.graft.GraftException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One operation of a {@link GraphModule}: {@code op} applied to the values named {@code inputs}
 * produces the value named {@code name}. Values are NCHW float32 tensors; importers convert other
 * layouts (TFLite's NHWC) when they build nodes.
 *
 * <p>Attribute values are {@code Integer}, {@code Double}, {@code Boolean}, {@code String} or
 * {@code int[]} (a JSON round trip may turn {@code int[]} into a list of numbers; the accessors accept
 * both). The ops and their attributes are listed in {@link GraphOps}.
 *
 * @param name   the node's name and the name of the value it produces; unique in the graph
 * @param op     the operation, one of {@link GraphOps#OPS}
 * @param inputs names of the values it consumes (graph input or earlier nodes)
 * @param attrs  the operation's attributes
 */
public record GraphNode(String name, String op, List<String> inputs, Map<String, Object> attrs) {
    public GraphNode {
        inputs = List.copyOf(inputs);
        attrs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(attrs));
    }

    public int intAttr(String key) {
        Object v = attr(key);
        if (v instanceof Number n) return n.intValue();
        throw bad(key, "an integer", v);
    }

    public int intAttr(String key, int fallback) {
        return attrs.containsKey(key) ? intAttr(key) : fallback;
    }

    public double doubleAttr(String key) {
        Object v = attr(key);
        if (v instanceof Number n) return n.doubleValue();
        throw bad(key, "a number", v);
    }

    public double doubleAttr(String key, double fallback) {
        return attrs.containsKey(key) ? doubleAttr(key) : fallback;
    }

    public boolean boolAttr(String key, boolean fallback) {
        if (!attrs.containsKey(key)) return fallback;
        Object v = attrs.get(key);
        if (v instanceof Boolean b) return b;
        throw bad(key, "a boolean", v);
    }

    public int[] intsAttr(String key) {
        Object v = attr(key);
        if (v instanceof int[] a) return a.clone();
        if (v instanceof List<?> l) {
            int[] out = new int[l.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(l.get(i) instanceof Number n)) throw bad(key, "a list of integers", v);
                out[i] = n.intValue();
            }
            return out;
        }
        throw bad(key, "a list of integers", v);
    }

    public int[] intsAttr(String key, int[] fallback) {
        return attrs.containsKey(key) ? intsAttr(key) : fallback.clone();
    }

    private Object attr(String key) {
        Object v = attrs.get(key);
        if (v == null) throw new GraftException("graph node '" + name + "' (" + op + ") lacks attribute '" + key + "'");
        return v;
    }

    private GraftException bad(String key, String what, Object v) {
        return new GraftException("graph node '" + name + "' (" + op + "): attribute '" + key + "' must be " + what + ", got " + v);
    }
}
