package dev.graft.tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * A region of code, typically one training or evaluation step, whose intermediate tensors are not
 * used after it ends: on {@link #close()} the memory of every op result created inside it on this
 * thread goes back to its backend for reuse (CPU: the array pool), instead of waiting for the garbage
 * collector to notice that the step's graph is gone.
 *
 * <pre>{@code
 * for (Batch b : loader) {
 *     try (var step = MemoryScope.open()) {
 *         Tensor loss = Losses.crossEntropy(model.forward(b.images()), b.labels());
 *         optimizer.zeroGrad();
 *         loss.backward();
 *         optimizer.step();
 *         total += loss.item();          // read results inside the scope
 *     }
 * }
 * }</pre>
 *
 * <p>The contract: after close, no tensor created inside the scope (op outputs, gradients flowing
 * through backward, their views) is read or written again, unless it was passed to {@link #keep}.
 * Parameters, their accumulated {@code grad} (kept automatically), optimizer state and module
 * buffers updated in place are not affected: they are not op results of the scope. Tensors other
 * threads create are not tracked. Scopes nest; {@code keep} exempts a tensor from all open scopes of
 * this thread. Without a scope nothing changes: the garbage collector reclaims the step's memory
 * (autograd still recycles the gradients it alone has seen).
 */
public final class MemoryScope implements AutoCloseable {
    private static final ThreadLocal<MemoryScope> CURRENT = new ThreadLocal<>();

    private final MemoryScope parent;
    private final Set<Storage> created = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    private MemoryScope(MemoryScope parent) {
        this.parent = parent;
    }

    /** Opens a scope on this thread; close it on the same thread (try-with-resources). */
    public static MemoryScope open() {
        MemoryScope s = new MemoryScope(CURRENT.get());
        CURRENT.set(s);
        return s;
    }

    /** Records an op result's storage in this thread's innermost open scope, if any. */
    static void track(Storage s) {
        MemoryScope scope = CURRENT.get();
        if (scope != null) scope.created.add(s);
    }

    /** Exempts t's storage from release by every open scope of this thread; returns t. */
    public static <T extends Tensor> T keep(T t) {
        if (t != null)
            for (MemoryScope s = CURRENT.get(); s != null; s = s.parent) s.created.remove(t.storage());
        return t;
    }

    /** Releases the memory of the scope's op results; restores the enclosing scope. */
    @Override
    public void close() {
        if (closed) return;
        if (CURRENT.get() != this) throw new IllegalStateException("MemoryScope closed out of order or on another thread");
        closed = true;
        CURRENT.set(parent);
        List<Storage> release = new ArrayList<>(created);
        created.clear();
        for (Storage s : release) s.backend().release(s);
    }
}
