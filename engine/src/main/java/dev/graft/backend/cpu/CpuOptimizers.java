package dev.graft.backend.cpu;

/**
 * In-place optimizer updates, element-wise in float with the hyperparameters rounded to float once,
 * the way PyTorch's single-tensor (non-foreach) float32 implementations compute them.
 */
final class CpuOptimizers {
    private CpuOptimizers() {}

    static void sgd(float[] p, int po, float[] g, int go, float[] buf, int bo, int n, double lr, double momentum,
                    double dampening, double weightDecay, boolean nesterov, boolean firstStep) {
        float lrF = (float) lr, mom = (float) momentum, damp = 1f - (float) dampening, wd = (float) weightDecay;
        boolean useMomentum = momentum != 0;
        if (useMomentum && buf == null) throw new IllegalArgumentException("sgdStep: momentum " + momentum + " needs a momentum buffer");
        Parallel.forRange(0, n, CpuBackend.GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float d = g[go + i];
                if (wd != 0f) d += wd * p[po + i];
                if (useMomentum) {
                    float b = firstStep ? d : mom * buf[bo + i] + damp * d;
                    buf[bo + i] = b;
                    d = nesterov ? d + mom * b : b;
                }
                p[po + i] -= lrF * d;
            }
        });
    }

    static void adamw(float[] p, int po, float[] g, int go, float[] m, int mo, float[] v, int vo, int n,
                      double lr, double beta1, double beta2, double eps, double weightDecay, int step) {
        // Scalars as PyTorch 1.13 computes them in Python (double), applied to float tensors.
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2, c1 = (float) (1 - beta1), c2 = (float) (1 - beta2);
        double bias1 = 1 - Math.pow(beta1, step), bias2 = 1 - Math.pow(beta2, step);
        float stepSize = (float) (lr / bias1), bias2Sqrt = (float) Math.sqrt(bias2), epsF = (float) eps;
        Parallel.forRange(0, n, CpuBackend.GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float grad = g[go + i];
                float pi = p[po + i] * decay;
                float mi = m[mo + i] * b1 + grad * c1;
                float vi = v[vo + i] * b2 + grad * grad * c2;
                m[mo + i] = mi;
                v[vo + i] = vi;
                float denom = (float) Math.sqrt(vi) / bias2Sqrt + epsF;
                p[po + i] = pi - stepSize * (mi / denom);
            }
        });
    }
}
