package dev.graft.nn;

import java.util.List;

/**
 * What {@link Module#loadStateDict} could not match: keys the module has that the state dict lacks
 * ({@code missing}) and keys the state dict has that the module lacks ({@code unexpected}).
 */
public record LoadResult(List<String> missing, List<String> unexpected) {
    public LoadResult {
        missing = List.copyOf(missing);
        unexpected = List.copyOf(unexpected);
    }

    /** True when every key matched. */
    public boolean isExactMatch() {
        return missing.isEmpty() && unexpected.isEmpty();
    }
}
