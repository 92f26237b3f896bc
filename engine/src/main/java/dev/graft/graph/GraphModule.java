package dev.graft.graph;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.nn.Module;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A network given as a list of {@link GraphNode}s in execution order (a topologically sorted DAG)
 * with one input and one output, as imported from TFLite or ONNX files. Nodes that own weights
 * ({@link GraphOps#hasModule}) are real child modules ({@code Conv2d}, {@code BatchNorm2d},
 * {@code Linear}, {@link Constant}) named after their node ({@link #moduleName}), so state dicts,
 * freezing, BatchNorm inference mode and moving between backends work as for any other module.
 *
 * <p>{@link #spec()} describes the graph without its weights (JSON-ready); {@link #fromSpec} rebuilds
 * it, after which the weights load from a state dict.
 */
public class GraphModule extends Module {
    private final String input;
    private final String output;
    private final List<GraphNode> nodes;
    private final Map<String, String> moduleNames = new HashMap<>();
    /** For each node, the values whose last use it is (freed after it runs). */
    private final List<List<String>> release = new ArrayList<>();

    /**
     * Builds the graph with freshly initialized modules. Throws a GraftException when a node uses a
     * value not produced before it, names are not unique, an op is unknown, or the output is never
     * produced.
     */
    public GraphModule(String input, String output, List<GraphNode> nodes) {
        this(input, output, nodes, null);
    }

    /** Shares the given modules (by node name) instead of creating new ones; used by {@link #subgraph}. */
    private GraphModule(String input, String output, List<GraphNode> nodes, Map<String, Module> shared) {
        this.input = input;
        this.output = output;
        this.nodes = List.copyOf(nodes);
        Set<String> defined = new HashSet<>();
        defined.add(input);
        Set<String> taken = new HashSet<>();
        for (GraphNode n : this.nodes) {
            GraphOps.validate(n);
            for (String in : n.inputs())
                if (!defined.contains(in))
                    throw new GraftException("graph node '" + n.name() + "' (" + n.op() + ") uses '" + in + "', which no earlier node produces");
            if (!defined.add(n.name())) throw new GraftException("graph has two values named '" + n.name() + "'");
            if (GraphOps.hasModule(n.op())) {
                String m = uniqueName(sanitize(n.name()), taken);
                moduleNames.put(n.name(), m);
                register(m, shared != null ? shared.get(n.name()) : GraphOps.createModule(n));
            }
        }
        if (!defined.contains(output)) throw new GraftException("graph output '" + output + "' is not produced by any node");
        Map<String, Integer> last = new HashMap<>();
        for (int i = 0; i < this.nodes.size(); i++) for (String in : this.nodes.get(i).inputs()) last.put(in, i);
        for (int i = 0; i < this.nodes.size(); i++) release.add(new ArrayList<>());
        last.forEach((value, i) -> {
            if (!value.equals(output)) release.get(i).add(value);
        });
    }

    /** A module name for a node: characters other than letters, digits and '_' become '_'. */
    static String sanitize(String nodeName) {
        String s = nodeName.replaceAll("[^A-Za-z0-9_]", "_");
        return s.isEmpty() ? "_" : s;
    }

    private static String uniqueName(String base, Set<String> taken) {
        String name = base;
        for (int i = 1; !taken.add(name); i++) name = base + "_" + i;
        return name;
    }

    @Override
    public Tensor forward(Tensor x) {
        Map<String, Tensor> values = new HashMap<>();
        values.put(input, x);
        for (int i = 0; i < nodes.size(); i++) {
            GraphNode n = nodes.get(i);
            List<Tensor> in = new ArrayList<>(n.inputs().size());
            for (String name : n.inputs()) in.add(values.get(name));
            String m = moduleNames.get(n.name());
            values.put(n.name(), GraphOps.run(n, m == null ? null : module(m), in));
            for (String done : release.get(i)) values.remove(done);
        }
        return values.get(output);
    }

    public String input() {
        return input;
    }

    public String output() {
        return output;
    }

    /** The nodes in execution order. */
    public List<GraphNode> nodes() {
        return nodes;
    }

    /** The child-module name of a node that owns weights (its sanitized name), or null. */
    public String moduleName(String nodeName) {
        return moduleNames.get(nodeName);
    }

    /** The node named {@code name}, or null. */
    public GraphNode node(String name) {
        for (GraphNode n : nodes) if (n.name().equals(name)) return n;
        return null;
    }

    /**
     * The part of this graph that computes value {@code newOutput}: only the nodes it depends on,
     * sharing this graph's modules (and so its weights and freeze flags).
     */
    public GraphModule subgraph(String newOutput) {
        if (!newOutput.equals(input) && node(newOutput) == null) throw new GraftException("graph has no value named '" + newOutput + "'");
        Set<String> needed = new HashSet<>();
        needed.add(newOutput);
        List<GraphNode> kept = new ArrayList<>();
        for (int i = nodes.size() - 1; i >= 0; i--) {
            GraphNode n = nodes.get(i);
            if (!needed.contains(n.name())) continue;
            kept.addFirst(n);
            needed.addAll(n.inputs());
        }
        Map<String, Module> shared = new HashMap<>();
        for (GraphNode n : kept) if (moduleNames.containsKey(n.name())) shared.put(n.name(), module(moduleNames.get(n.name())));
        return new GraphModule(input, newOutput, kept, shared);
    }

    // ------------------------------------------------------------------ description

    /** The graph without weights as plain maps and lists: {@code {"input", "output", "nodes": [{name, op, inputs, attrs}]}}. */
    public Map<String, Object> spec() {
        List<Object> ns = new ArrayList<>();
        for (GraphNode n : nodes) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", n.name());
            m.put("op", n.op());
            m.put("inputs", n.inputs());
            m.put("attrs", n.attrs());
            ns.add(m);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("input", input);
        out.put("output", output);
        out.put("nodes", ns);
        return out;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Rebuilds a graph (freshly initialized weights) from {@link #spec()}'s JSON. */
    public static GraphModule fromSpec(JsonNode spec) {
        if (spec == null || !spec.path("nodes").isArray())
            throw new GraftException("graph description has no 'nodes' list");
        List<GraphNode> nodes = new ArrayList<>();
        for (JsonNode n : spec.get("nodes")) {
            List<String> inputs = new ArrayList<>();
            for (JsonNode i : n.path("inputs")) inputs.add(i.asText());
            Map<String, Object> attrs = new LinkedHashMap<>();
            for (var e : n.path("attrs").properties()) attrs.put(e.getKey(), JSON.convertValue(e.getValue(), Object.class));
            nodes.add(new GraphNode(n.path("name").asText(), n.path("op").asText(), inputs, attrs));
        }
        return new GraphModule(spec.path("input").asText(), spec.path("output").asText(), nodes);
    }

    /** One line per node: {@code name = op(inputs) attrs}. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        for (GraphNode n : nodes) {
            sb.append(n.name()).append(" = ").append(n.op()).append('(').append(String.join(", ", n.inputs())).append(')');
            if (!n.attrs().isEmpty()) {
                sb.append(' ');
                StringBuilder a = new StringBuilder();
                n.attrs().forEach((k, v) -> a.append(a.isEmpty() ? "" : ", ").append(k).append('=')
                        .append(v instanceof int[] arr ? java.util.Arrays.toString(arr) : String.valueOf(v)));
                sb.append('{').append(a).append('}');
            }
            sb.append('\n');
        }
        return sb.toString();
    }
}
