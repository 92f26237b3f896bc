package dev.graft.optim;

import dev.graft.GraftException;

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR in closed form:
 * lr = etaMin + (base − etaMin)·(1 + cos(π·t / tMax)) / 2, so base at t = 0 and etaMin (an absolute
 * lr, as in PyTorch) at t = tMax. Like PyTorch's closed form it keeps following the cosine after tMax.
 */
public record CosineAnnealingLR(int tMax, double etaMin) implements LrSchedule {
    public CosineAnnealingLR {
        if (tMax <= 0) throw new GraftException("CosineAnnealingLR: T_max must be positive, got " + tMax);
    }

    /** Annealing to 0. */
    public CosineAnnealingLR(int tMax) {
        this(tMax, 0);
    }

    @Override
    public double lr(double baseLr, int step) {
        return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * step / tMax)) / 2;
    }
}
