package dev.graft.optim;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * torch.optim.AdamW (amsgrad off): at step t, p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g;
 * v ← β2·v + (1−β2)·g²; p ← p − lr·(m / (1−β1^t)) / (√(v / (1−β2^t)) + eps). Runs the backend's
 * {@code adamwStep} kernel. Group options: {@code beta1}, {@code beta2}, {@code eps} (Double).
 * Defaults as PyTorch: betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
 */
public class AdamW extends Optimizer {
    /** AdamW's defaults, applied to whatever a group leaves unset. */
    public record Options(double lr, double beta1, double beta2, double eps, double weightDecay) {
        /** PyTorch's defaults at this learning rate. */
        public static Options lr(double lr) {
            return new Options(lr, 0.9, 0.999, 1e-8, 0.01);
        }

        public Options withBetas(double beta1, double beta2) { return new Options(lr, beta1, beta2, eps, weightDecay); }
        public Options withEps(double eps) { return new Options(lr, beta1, beta2, eps, weightDecay); }
        public Options withWeightDecay(double weightDecay) { return new Options(lr, beta1, beta2, eps, weightDecay); }
    }

    private static final class State {
        int step;
        final Tensor expAvg, expAvgSq;

        State(Tensor p) {
            expAvg = p.newZeros(p.shape());
            expAvgSq = p.newZeros(p.shape());
        }
    }

    private final Map<Tensor, State> state = new IdentityHashMap<>();

    public AdamW(List<ParamGroup> groups, Options defaults) {
        super(groups, defaults.lr(), defaults.weightDecay(),
                Map.of("beta1", defaults.beta1(), "beta2", defaults.beta2(), "eps", defaults.eps()));
    }

    public AdamW(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        this(List.of(new ParamGroup(params)), new Options(lr, beta1, beta2, eps, weightDecay));
    }

    /** PyTorch's defaults (betas (0.9, 0.999), eps 1e-8, weight decay 0.01) at this learning rate. */
    public AdamW(List<Tensor> params, double lr) {
        this(List.of(new ParamGroup(params)), Options.lr(lr));
    }

    @Override
    protected void validate(ParamGroup g) {
        super.validate(g);
        double b1 = SGD.number(g, "beta1"), b2 = SGD.number(g, "beta2"), eps = SGD.number(g, "eps");
        if (!(b1 >= 0 && b1 < 1)) throw new GraftException("AdamW: invalid beta1 " + b1 + " (must be in [0, 1))");
        if (!(b2 >= 0 && b2 < 1)) throw new GraftException("AdamW: invalid beta2 " + b2 + " (must be in [0, 1))");
        if (!(eps >= 0)) throw new GraftException("AdamW: invalid eps " + eps);
    }

    @Override
    protected void update(ParamGroup g, Tensor p, Tensor grad) {
        State s = state.computeIfAbsent(p, State::new);
        s.step++;
        p.backend().adamwStep(p, grad, s.expAvg, s.expAvgSq, g.lr(), g.doubleOption("beta1"), g.doubleOption("beta2"),
                g.doubleOption("eps"), g.weightDecay(), s.step);
    }

    /** How many updates a parameter has had. */
    public int stepCount(Tensor param) {
        State s = state.get(param);
        return s == null ? 0 : s.step;
    }

    /** A parameter's first-moment estimate m, or null before its first step. */
    public Tensor expAvg(Tensor param) {
        State s = state.get(param);
        return s == null ? null : s.expAvg;
    }

    /** A parameter's second-moment estimate v, or null before its first step. */
    public Tensor expAvgSq(Tensor param) {
        State s = state.get(param);
        return s == null ? null : s.expAvgSq;
    }

    @Override
    protected Map<String, Tensor> paramState(Tensor param) {
        State s = state.get(param);
        if (s == null) return Map.of();
        return Map.of("step", Tensor.of(new float[] {s.step}, 1), "exp_avg", s.expAvg, "exp_avg_sq", s.expAvgSq);
    }

    @Override
    protected void setParamState(Tensor param, Map<String, Tensor> st) {
        State s = new State(param);
        s.expAvg.copyFrom(stateLike(param, st, "exp_avg"));
        s.expAvgSq.copyFrom(stateLike(param, st, "exp_avg_sq"));
        Tensor step = st.get("step");
        if (step == null || step.numel() != 1) throw new GraftException("AdamW: optimizer state lacks 'step'");
        s.step = Math.round(step.toFloatArray()[0]);
        state.put(param, s);
    }
}
