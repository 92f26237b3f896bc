package dev.graft.optim;

import dev.graft.GraftException;
import dev.graft.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * torch.optim.SGD: g = grad + weightDecay·p; with momentum, buf = g on the first step and
 * momentum·buf + (1 − dampening)·g after, then g = nesterov ? g + momentum·buf : buf; p −= lr·g.
 * Runs the backend's {@code sgdStep} kernel. Group options: {@code momentum}, {@code dampening}
 * (Double), {@code nesterov} (Boolean).
 */
public class SGD extends Optimizer {
    /** SGD's defaults, applied to whatever a group leaves unset. */
    public record Options(double lr, double momentum, double dampening, double weightDecay, boolean nesterov) {
        /** Plain SGD at this learning rate (no momentum, dampening or weight decay). */
        public static Options lr(double lr) {
            return new Options(lr, 0, 0, 0, false);
        }

        public Options withMomentum(double momentum) { return new Options(lr, momentum, dampening, weightDecay, nesterov); }
        public Options withDampening(double dampening) { return new Options(lr, momentum, dampening, weightDecay, nesterov); }
        public Options withWeightDecay(double weightDecay) { return new Options(lr, momentum, dampening, weightDecay, nesterov); }
        public Options withNesterov(boolean nesterov) { return new Options(lr, momentum, dampening, weightDecay, nesterov); }
    }

    private final Map<Tensor, Tensor> momentumBuffers = new IdentityHashMap<>();

    public SGD(List<ParamGroup> groups, Options defaults) {
        super(groups, defaults.lr(), defaults.weightDecay(),
                Map.of("momentum", defaults.momentum(), "dampening", defaults.dampening(), "nesterov", defaults.nesterov()));
    }

    /** One group with the given options. */
    public SGD(List<Tensor> params, double lr, double momentum, double dampening, double weightDecay, boolean nesterov) {
        this(List.of(new ParamGroup(params)), new Options(lr, momentum, dampening, weightDecay, nesterov));
    }

    /** One group with momentum and weight decay. */
    public SGD(List<Tensor> params, double lr, double momentum, double weightDecay) {
        this(params, lr, momentum, 0, weightDecay, false);
    }

    /** Plain SGD. */
    public SGD(List<Tensor> params, double lr) {
        this(params, lr, 0, 0, 0, false);
    }

    @Override
    protected void validate(ParamGroup g) {
        super.validate(g);
        double momentum = number(g, "momentum"), dampening = number(g, "dampening");
        if (!(g.option("nesterov") instanceof Boolean nesterov))
            throw new GraftException("SGD: option nesterov must be a Boolean, got " + g.option("nesterov"));
        if (!(momentum >= 0)) throw new GraftException("SGD: invalid momentum " + momentum);
        if (Double.isNaN(dampening)) throw new GraftException("SGD: invalid dampening " + dampening);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new GraftException("SGD: nesterov momentum requires a momentum and zero dampening (momentum "
                    + momentum + ", dampening " + dampening + ")");
    }

    static double number(ParamGroup g, String option) {
        if (!(g.option(option) instanceof Number n))
            throw new GraftException("option " + option + " must be a number, got " + g.option(option));
        return n.doubleValue();
    }

    @Override
    protected void update(ParamGroup g, Tensor p, Tensor grad) {
        double momentum = g.doubleOption("momentum");
        Tensor buf = null;
        boolean first = false;
        if (momentum != 0) {
            buf = momentumBuffers.get(p);
            if (buf == null) {
                buf = p.newZeros(p.shape());
                momentumBuffers.put(p, buf);
                first = true;
            }
        }
        p.backend().sgdStep(p, grad, buf, g.lr(), momentum, g.doubleOption("dampening"), g.weightDecay(),
                g.booleanOption("nesterov"), first);
    }

    /** The momentum buffer of a parameter, or null before its first momentum step. */
    public Tensor momentumBuffer(Tensor param) {
        return momentumBuffers.get(param);
    }

    @Override
    protected Map<String, Tensor> paramState(Tensor param) {
        Tensor buf = momentumBuffers.get(param);
        return buf == null ? Map.of() : Map.of("momentum_buffer", buf);
    }

    @Override
    protected void setParamState(Tensor param, Map<String, Tensor> state) {
        momentumBuffers.put(param, stateLike(param, state, "momentum_buffer"));
    }
}
