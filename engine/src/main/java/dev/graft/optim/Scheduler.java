package dev.graft.optim;

import java.util.ArrayList;
import java.util.List;

/**
 * Drives an optimizer's learning rates along an {@link LrSchedule}: each group's lr becomes
 * {@code schedule.lr(group.initialLr(), t)}. As a PyTorch scheduler, construction applies step 0, and
 * each {@link #step()} advances t by one (call it once per epoch or once per iteration, after
 * {@code optimizer.step()}).
 */
public final class Scheduler {
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private int step;

    public Scheduler(Optimizer optimizer, LrSchedule schedule) {
        this.optimizer = optimizer;
        this.schedule = schedule;
        apply();
    }

    /** Advances one step and sets the new learning rates. */
    public void step() {
        step++;
        apply();
    }

    /** Jumps to step t (e.g. when resuming) and sets its learning rates. */
    public void setStep(int t) {
        if (t < 0) throw new IllegalArgumentException("step must be >= 0, got " + t);
        step = t;
        apply();
    }

    /** The current step t. */
    public int currentStep() {
        return step;
    }

    /** Each group's current learning rate. */
    public List<Double> lastLr() {
        List<Double> out = new ArrayList<>();
        for (ParamGroup g : optimizer.paramGroups()) out.add(g.lr());
        return out;
    }

    private void apply() {
        for (ParamGroup g : optimizer.paramGroups()) g.setLr(schedule.lr(g.initialLr(), step));
    }
}
