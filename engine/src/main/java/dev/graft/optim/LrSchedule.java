package dev.graft.optim;

/**
 * A learning-rate schedule in closed form: the lr at step t (0, 1, 2, …) of a group whose initial lr
 * is {@code baseLr}. What a step is (an epoch or an iteration) is up to the caller of
 * {@link Scheduler#step()}. Schedules compose: {@code new CosineAnnealingLR(90, 0).withWarmup(5, 0.1)}
 * warms up for 5 steps, then anneals over the next 90.
 */
@FunctionalInterface
public interface LrSchedule {
    double lr(double baseLr, int step);

    /** Linear warmup for {@code warmupSteps} steps from {@code startFactor}·base, then this schedule (restarted at 0). */
    default LrSchedule withWarmup(int warmupSteps, double startFactor) {
        return new LinearWarmup(warmupSteps, startFactor, this);
    }

    /** The base lr at every step. */
    static LrSchedule constant() {
        return (base, step) -> base;
    }
}
