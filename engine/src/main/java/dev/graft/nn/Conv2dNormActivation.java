package dev.graft.nn;

import dev.graft.tensor.Tensor;

/**
 * torchvision's Conv2dNormActivation: a Sequential of a convolution, a normalization and an
 * activation (children "0", "1", "2", so state-dict keys are torchvision's). When the last two are a
 * plain BatchNorm2d and ReLU/ReLU6, they run as one fused op ({@link BatchNorm2d#forwardThen}), and
 * in inference the convolution joins them ({@link BatchNorm2d#convForwardThen}); any other children
 * run in sequence.
 */
public class Conv2dNormActivation extends Sequential {
    public Conv2dNormActivation(Module conv, Module norm, Module activation) {
        super(conv, norm, activation);
    }

    @Override
    public Tensor forward(Tensor x) {
        if (size() != 3) return super.forward(x);
        return BatchNorm2d.convForwardThen(get(0), get(1), get(2), x);
    }
}
