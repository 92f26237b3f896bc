package dev.graft.optim;

import dev.graft.GraftException;

/**
 * Linear warmup (torch's LinearLR with end factor 1) followed by another schedule, as SequentialLR:
 * for t &lt; warmupSteps, lr = base · (startFactor + (1 − startFactor)·t / warmupSteps); from then on
 * lr = then.lr(base, t − warmupSteps).
 */
public record LinearWarmup(int warmupSteps, double startFactor, LrSchedule then) implements LrSchedule {
    public LinearWarmup {
        if (warmupSteps < 0) throw new GraftException("LinearWarmup: warmup steps must be >= 0, got " + warmupSteps);
        if (!(startFactor > 0 && startFactor <= 1)) throw new GraftException("LinearWarmup: start factor must be in (0, 1], got " + startFactor);
        if (then == null) throw new GraftException("LinearWarmup: the schedule after warmup is null");
    }

    /** Warmup, then the constant base lr. */
    public LinearWarmup(int warmupSteps, double startFactor) {
        this(warmupSteps, startFactor, LrSchedule.constant());
    }

    @Override
    public double lr(double baseLr, int step) {
        if (step < warmupSteps) return baseLr * (startFactor + (1 - startFactor) * step / warmupSteps);
        return then.lr(baseLr, step - warmupSteps);
    }
}
