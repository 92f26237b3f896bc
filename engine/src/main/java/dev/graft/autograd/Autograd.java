package dev.graft.autograd;

import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode automatic differentiation over a dynamic tape: every op that reads a tensor requiring
 * gradients attaches a {@link Node} to its output; {@link #backward} walks the nodes in reverse
 * topological order and accumulates into the leaves' {@code grad}.
 */
public final class Autograd {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});

    private Autograd() {}

    /** Whether ops record gradients on this thread. */
    public static boolean isEnabled() {
        return ENABLED.get()[0];
    }

    /** A scope in which ops record nothing: {@code try (var _ = Autograd.noGrad()) { ... }}. */
    public static Scope noGrad() {
        return setEnabled(false);
    }

    /** A scope in which ops record gradients again (inside a {@link #noGrad()} scope). */
    public static Scope enableGrad() {
        return setEnabled(true);
    }

    private static Scope setEnabled(boolean enabled) {
        boolean[] flag = ENABLED.get();
        boolean previous = flag[0];
        flag[0] = enabled;
        return () -> flag[0] = previous;
    }

    /** Restores the previous grad mode on close. */
    @FunctionalInterface
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Whether an op reading {@code inputs} must record itself. */
    public static boolean needsGrad(Tensor... inputs) {
        if (!isEnabled()) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    /**
     * Records {@code output} as produced by an op named {@code name} from {@code inputs}, when any input
     * requires a gradient and grad mode is on. Returns {@code output}. Inputs may contain nulls
     * (optional arguments such as a bias).
     */
    public static Tensor record(String name, Tensor output, Tensor[] inputs, Node.Backward backward) {
        if (needsGrad(inputs)) output.attachGradFn(new Node(name, inputs, backward));
        return output;
    }

    /** Backpropagates {@code gradient} (shaped like {@code root}) from {@code root} to every leaf that requires a gradient. */
    public static void backward(Tensor root, Tensor gradient) {
        if (!root.requiresGrad())
            throw new IllegalStateException("backward() on a tensor that does not require grad (shape "
                    + Arrays.toString(root.shape()) + ")");
        if (!Arrays.equals(root.shape(), gradient.shape()))
            throw new IllegalArgumentException("gradient shape " + Arrays.toString(gradient.shape())
                    + " does not match tensor shape " + Arrays.toString(root.shape()));
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Tensor> grads = new IdentityHashMap<>();
        Temporaries temps = new Temporaries(Storage.lastSerial());
        grads.put(root, gradient);
        temps.hold(gradient);
        try (var _ = noGrad()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = grads.remove(t);
                if (g == null) continue;
                Node node = t.gradFn();
                if (node == null) {
                    t.accumulateGrad(g);   // copies or adds: g itself is not kept
                    temps.drop(g);
                    continue;
                }
                Tensor[] inputs = node.inputs();
                Tensor[] inputGrads = node.apply(g);
                for (int k = 0; k < inputs.length; k++) {
                    Tensor in = inputs[k];
                    if (in == null || !in.requiresGrad()) continue;
                    Tensor ig = inputGrads[k];
                    if (ig == null) continue;
                    if (!Arrays.equals(ig.shape(), in.shape()))
                        throw new IllegalStateException(node + " produced a gradient of shape " + Arrays.toString(ig.shape())
                                + " for input " + k + " of shape " + Arrays.toString(in.shape()));
                    Tensor old = grads.get(in);
                    Tensor merged = old == null ? ig : old.add(ig);
                    grads.put(in, merged);
                    temps.hold(merged);
                    if (old != null) {
                        temps.hold(ig);
                        temps.drop(ig);
                        temps.drop(old);
                    }
                }
                temps.drop(g);
            }
        }
    }

    /**
     * Reference counts of the gradient tensors' storages in backward's pending map, so that a gradient
     * whose consumers have all run goes back to its backend at once ({@link dev.graft.backend.Backend#release})
     * instead of waiting for the garbage collector. Only storages created during this backward pass
     * (serial above {@code firstSerial}) are ever released: the root gradient, forward activations
     * and anything else the caller may hold are older. Views share their base's count, since the
     * count is per storage.
     */
    private static final class Temporaries {
        private final long firstSerial;
        private final Map<Storage, int[]> counts = new IdentityHashMap<>();

        Temporaries(long firstSerial) {
            this.firstSerial = firstSerial;
        }

        void hold(Tensor t) {
            Storage s = t.storage();
            if (s.serial() > firstSerial) counts.computeIfAbsent(s, k -> new int[1])[0]++;
        }

        void drop(Tensor t) {
            Storage s = t.storage();
            if (s.serial() <= firstSerial) return;
            int[] c = counts.get(s);
            if (c == null || --c[0] > 0) return;
            counts.remove(s);
            s.backend().release(s);
        }
    }

    /** Tensors reachable from root through grad functions, each after all its inputs. */
    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        // Iterative DFS: models are deep enough that recursion would risk the stack.
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        seen.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (Integer) frame[1];
            Tensor[] inputs = t.gradFn() == null ? new Tensor[0] : t.gradFn().inputs();
            while (next < inputs.length && (inputs[next] == null || !inputs[next].requiresGrad() || seen.containsKey(inputs[next])))
                next++;
            if (next < inputs.length) {
                frame[1] = next + 1;
                seen.put(inputs[next], Boolean.TRUE);
                stack.push(new Object[] {inputs[next], 0});
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
