package dev.graft.backend.cuda;

import dev.graft.GraftException;

/** A CUDA call that failed: the call, the error name and what it was doing, in one line. */
public final class CudaException extends GraftException {
    public CudaException(String message) {
        super(message);
    }
}
