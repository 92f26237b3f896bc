package dev.graft.optim;

import dev.graft.GraftException;

/** torch.optim.lr_scheduler.StepLR: lr = base · gamma^⌊t / stepSize⌋. */
public record StepLR(int stepSize, double gamma) implements LrSchedule {
    public StepLR {
        if (stepSize <= 0) throw new GraftException("StepLR: step size must be positive, got " + stepSize);
    }

    @Override
    public double lr(double baseLr, int step) {
        return baseLr * Math.pow(gamma, Math.floorDiv(step, stepSize));
    }
}
