package dev.graft.backend.reference;

import dev.graft.backend.Backend;
import dev.graft.backend.BinaryOp;
import dev.graft.backend.ConvGeometry;
import dev.graft.backend.PoolGeometry;
import dev.graft.backend.ScalarOp;
import dev.graft.backend.UnaryOp;
import dev.graft.backend.cpu.DoubleStorage;
import dev.graft.backend.cpu.FloatStorage;
import dev.graft.backend.cpu.HostStorage;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Shapes;
import dev.graft.tensor.Storage;
import dev.graft.tensor.Tensor;

/**
 * The scalar oracle: every {@link Backend} kernel written as the plainest loop over its definition,
 * one element at a time, accumulating in {@code double}. The fast CPU backend and any accelerator
 * backend are tested against it, so it favours being obviously right over being fast.
 *
 * <p>Both instances read and write <em>any</em> {@link HostStorage} (float or double) through
 * {@link HostStorage#get}/{@link HostStorage#set}; they differ only in what {@link #allocate} returns.
 * That lets a test run the reference over the fast backend's float32 tensors. A {@code float} storage
 * rounds each value as it is written; all arithmetic in between is done in {@code double}.
 *
 * <p>Semantics follow PyTorch's CPU kernels; the formulas are given next to each kernel.
 */
public final class ReferenceBackend implements Backend {
    /** float64 reference: allocates {@link DoubleStorage}. Serves FLOAT64 CPU tensors. */
    public static final ReferenceBackend FLOAT64 = new ReferenceBackend(DType.FLOAT64);

    /** float32 reference: allocates {@link FloatStorage}; for tests that want float32 outputs. */
    public static final ReferenceBackend FLOAT32 = new ReferenceBackend(DType.FLOAT32);

    private final DType dtype;

    private ReferenceBackend(DType dtype) {
        this.dtype = dtype;
    }

    @Override public Device device() { return Device.CPU; }
    @Override public DType dtype() { return dtype; }
    @Override public String toString() { return "ReferenceBackend(" + dtype + ")"; }

    // ======================================================================= memory

    @Override
    public Storage allocate(int size) {
        return dtype == DType.FLOAT64 ? new DoubleStorage(new double[size]) : new FloatStorage(new float[size]);
    }

    /** Takes ownership of {@code values} when the element type matches (no copy). */
    @Override
    public Storage fromFloats(float[] values) {
        if (dtype == DType.FLOAT32) return new FloatStorage(values);
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return new DoubleStorage(d);
    }

    /** Takes ownership of {@code values} when the element type matches (no copy). */
    @Override
    public Storage fromDoubles(double[] values) {
        if (dtype == DType.FLOAT64) return new DoubleStorage(values);
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
        return new FloatStorage(f);
    }

    @Override
    public void readFloats(Storage src, int srcOffset, float[] dst, int dstOffset, int count) {
        HostStorage s = host(src);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = (float) s.get(srcOffset + i);
    }

    @Override
    public void readDoubles(Storage src, int srcOffset, double[] dst, int dstOffset, int count) {
        HostStorage s = host(src);
        for (int i = 0; i < count; i++) dst[dstOffset + i] = s.get(srcOffset + i);
    }

    /**
     * Reads every source element first, then writes, so overlapping views of one storage copy as if
     * through a temporary. A 0-D shape copies one element.
     */
    @Override
    public void copy(int[] shape, Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides) {
        HostStorage s = host(src);
        HostStorage d = host(dst);
        int count = Shapes.numel(shape);
        double[] values = new double[count];
        for (int i = 0; i < count; i++) values[i] = s.get(srcOffset + StridedIndex.offset(i, shape, srcStrides));
        for (int i = 0; i < count; i++) d.set(dstOffset + StridedIndex.offset(i, shape, dstStrides), values[i]);
    }

    @Override
    public void fill(Tensor dst, double value) {
        HostStorage d = host(dst);
        int count = Shapes.numel(dst.shape());
        for (int i = 0; i < count; i++) d.set(dst.offset() + i, value);
    }

    // ======================================================================= element-wise

    /** y = f(x) per element; see {@link UnaryMath#apply} for the definitions. */
    @Override
    public void unary(UnaryOp op, Tensor x, Tensor y) {
        HostStorage xs = host(x), ys = host(y);
        int count = Shapes.numel(x.shape());
        for (int i = 0; i < count; i++) ys.set(y.offset() + i, UnaryMath.apply(op, xs.get(x.offset() + i)));
    }

    /** dx = dy · f'(x) per element; see {@link UnaryMath#derivative} for PyTorch's choices at the kinks. */
    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx) {
        HostStorage xs = host(x), dys = host(dy), dxs = host(dx);
        int count = Shapes.numel(x.shape());
        for (int i = 0; i < count; i++) {
            dxs.set(dx.offset() + i, UnaryMath.derivative(op, xs.get(x.offset() + i), dys.get(dy.offset() + i)));
        }
    }

    @Override
    public void binary(BinaryOp op, int[] shape, Tensor a, int[] aStrides, Tensor b, int[] bStrides, Tensor out) {
        HostStorage as = host(a), bs = host(b), os = host(out);
        int count = Shapes.numel(shape);
        for (int i = 0; i < count; i++) {
            double u = as.get(a.offset() + StridedIndex.offset(i, shape, aStrides));
            double v = bs.get(b.offset() + StridedIndex.offset(i, shape, bStrides));
            double r = switch (op) {
                case ADD -> u + v;
                case SUB -> u - v;
                case MUL -> u * v;
                case DIV -> u / v;
            };
            os.set(out.offset() + i, r);
        }
    }

    /** ADD x + s, MUL x · s, POW x^s ({@link Math#pow}), RSUB s − x, RDIV s / x. */
    @Override
    public void scalar(ScalarOp op, Tensor x, double s, Tensor y) {
        HostStorage xs = host(x), ys = host(y);
        int count = Shapes.numel(x.shape());
        for (int i = 0; i < count; i++) {
            double v = xs.get(x.offset() + i);
            double r = switch (op) {
                case ADD -> v + s;
                case MUL -> v * s;
                case POW -> Math.pow(v, s);
                case RSUB -> s - v;
                case RDIV -> s / v;
            };
            ys.set(y.offset() + i, r);
        }
    }

    // ======================================================================= reductions

    /** Accumulates into a double buffer covering out's own numel, then writes it (so out is overwritten). */
    @Override
    public void sum(int[] shape, Tensor x, int[] outStrides, Tensor out) {
        HostStorage xs = host(x), os = host(out);
        double[] acc = new double[Shapes.numel(out.shape())];
        int count = Shapes.numel(shape);
        for (int i = 0; i < count; i++) acc[StridedIndex.offset(i, shape, outStrides)] += xs.get(x.offset() + i);
        for (int j = 0; j < acc.length; j++) os.set(out.offset() + j, acc[j]);
    }

    /**
     * For each (o, j): m = max_i x[o, i, j]; softmax y = exp(x − m) / Σ exp(x − m);
     * log-softmax y = (x − m) − log Σ exp(x − m).
     */
    @Override
    public void softmax(Tensor x, Tensor y, int outer, int n, int inner, boolean log) {
        HostStorage xs = host(x), ys = host(y);
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < inner; j++) {
                int base = o * n * inner + j;
                double max = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < n; i++) max = Math.max(max, xs.get(x.offset() + base + i * inner));
                double sum = 0;
                for (int i = 0; i < n; i++) sum += Math.exp(xs.get(x.offset() + base + i * inner) - max);
                double logSum = Math.log(sum);
                for (int i = 0; i < n; i++) {
                    double shifted = xs.get(x.offset() + base + i * inner) - max;
                    ys.set(y.offset() + base + i * inner, log ? shifted - logSum : Math.exp(shifted) / sum);
                }
            }
        }
    }

    /** softmax: dx = y · (dy − Σ dy·y); log-softmax: dx = dy − exp(y) · Σ dy (sums along the middle axis). */
    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, int outer, int n, int inner, boolean log) {
        HostStorage ys = host(y), dys = host(dy), dxs = host(dx);
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < inner; j++) {
                int base = o * n * inner + j;
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    int p = base + i * inner;
                    double g = dys.get(dy.offset() + p);
                    dot += log ? g : g * ys.get(y.offset() + p);
                }
                for (int i = 0; i < n; i++) {
                    int p = base + i * inner;
                    double yv = ys.get(y.offset() + p), g = dys.get(dy.offset() + p);
                    dxs.set(dx.offset() + p, log ? g - Math.exp(yv) * dot : yv * (g - dot));
                }
            }
        }
    }

    // ======================================================================= linear algebra

    /**
     * C_b[i][j] = alpha · Σ_p opA(i, p) · opB(p, j) + beta · C_b[i][j], where opA(i, p) is A[i·k + p]
     * (or A[p·m + i] when transA) and opB(p, j) is B[p·n + j] (or B[j·k + p] when transB). With
     * beta = 0 the old C is never read.
     */
    @Override
    public void gemm(boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
                     Tensor a, int strideA, Tensor b, int strideB, double beta, Tensor c, int strideC) {
        HostStorage as = host(a), bs = host(b), cs = host(c);
        for (int bi = 0; bi < batch; bi++) {
            int a0 = a.offset() + bi * strideA, b0 = b.offset() + bi * strideB, c0 = c.offset() + bi * strideC;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = as.get(a0 + (transA ? p * m + i : i * k + p));
                        double bv = bs.get(b0 + (transB ? j * k + p : p * n + j));
                        acc += av * bv;
                    }
                    int ci = c0 + i * n + j;
                    double old = beta == 0 ? 0.0 : beta * cs.get(ci);
                    cs.set(ci, alpha * acc + old);
                }
            }
        }
    }

    // ======================================================================= convolution

    /**
     * y[n, oc, oy, ox] = bias[oc] + Σ_{ic', ky, kx} x[n, g·icPerGroup + ic', iy, ix] · w[oc, ic', ky, kx]
     * with g = oc / ocPerGroup, iy = oy·strideH − padH + ky·dilationH (likewise ix), and x = 0 outside.
     */
    @Override
    public void conv2dForward(ConvGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        HostStorage xs = host(x), ws = host(weight), ys = host(y);
        HostStorage bs = bias == null ? null : host(bias);
        int icpg = g.inPerGroup(), ocpg = g.outPerGroup();
        for (int ni = 0; ni < g.n(); ni++) {
            for (int oc = 0; oc < g.outC(); oc++) {
                int group = oc / ocpg;
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        double acc = bs == null ? 0.0 : bs.get(bias.offset() + oc);
                        for (int icg = 0; icg < icpg; icg++) {
                            int ic = group * icpg + icg;
                            for (int ky = 0; ky < g.kh(); ky++) {
                                int iy = oy * g.strideH() - g.padH() + ky * g.dilationH();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int kx = 0; kx < g.kw(); kx++) {
                                    int ix = ox * g.strideW() - g.padW() + kx * g.dilationW();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    acc += xs.get(x.offset() + idx4(ni, ic, iy, ix, g.inC(), g.h(), g.w()))
                                            * ws.get(weight.offset() + idx4(oc, icg, ky, kx, icpg, g.kh(), g.kw()));
                                }
                            }
                        }
                        ys.set(y.offset() + idx4(ni, oc, oy, ox, g.outC(), g.oh(), g.ow()), acc);
                    }
                }
            }
        }
    }

    /** The adjoint of the forward loop: dx[n, ic, iy, ix] += dy[n, oc, oy, ox] · w[oc, ic', ky, kx] (scattered in double). */
    @Override
    public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor weight, Tensor dx) {
        HostStorage dys = host(dy), ws = host(weight), dxs = host(dx);
        int icpg = g.inPerGroup(), ocpg = g.outPerGroup();
        double[] acc = new double[g.n() * g.inC() * g.h() * g.w()];
        for (int ni = 0; ni < g.n(); ni++) {
            for (int oc = 0; oc < g.outC(); oc++) {
                int group = oc / ocpg;
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        double grad = dys.get(dy.offset() + idx4(ni, oc, oy, ox, g.outC(), g.oh(), g.ow()));
                        for (int icg = 0; icg < icpg; icg++) {
                            int ic = group * icpg + icg;
                            for (int ky = 0; ky < g.kh(); ky++) {
                                int iy = oy * g.strideH() - g.padH() + ky * g.dilationH();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int kx = 0; kx < g.kw(); kx++) {
                                    int ix = ox * g.strideW() - g.padW() + kx * g.dilationW();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    acc[idx4(ni, ic, iy, ix, g.inC(), g.h(), g.w())] +=
                                            grad * ws.get(weight.offset() + idx4(oc, icg, ky, kx, icpg, g.kh(), g.kw()));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (int i = 0; i < acc.length; i++) dxs.set(dx.offset() + i, acc[i]);
    }

    /** dW[oc, ic', ky, kx] = Σ_{n, oy, ox} dy[n, oc, oy, ox] · x[n, g·icPerGroup + ic', iy, ix] (x = 0 outside). */
    @Override
    public void conv2dBackwardWeight(ConvGeometry g, Tensor x, Tensor dy, Tensor dWeight) {
        HostStorage xs = host(x), dys = host(dy), dws = host(dWeight);
        int icpg = g.inPerGroup(), ocpg = g.outPerGroup();
        for (int oc = 0; oc < g.outC(); oc++) {
            int group = oc / ocpg;
            for (int icg = 0; icg < icpg; icg++) {
                int ic = group * icpg + icg;
                for (int ky = 0; ky < g.kh(); ky++) {
                    for (int kx = 0; kx < g.kw(); kx++) {
                        double acc = 0;
                        for (int ni = 0; ni < g.n(); ni++) {
                            for (int oy = 0; oy < g.oh(); oy++) {
                                int iy = oy * g.strideH() - g.padH() + ky * g.dilationH();
                                if (iy < 0 || iy >= g.h()) continue;
                                for (int ox = 0; ox < g.ow(); ox++) {
                                    int ix = ox * g.strideW() - g.padW() + kx * g.dilationW();
                                    if (ix < 0 || ix >= g.w()) continue;
                                    acc += dys.get(dy.offset() + idx4(ni, oc, oy, ox, g.outC(), g.oh(), g.ow()))
                                            * xs.get(x.offset() + idx4(ni, ic, iy, ix, g.inC(), g.h(), g.w()));
                                }
                            }
                        }
                        dws.set(dWeight.offset() + idx4(oc, icg, ky, kx, icpg, g.kh(), g.kw()), acc);
                    }
                }
            }
        }
    }

    // ======================================================================= batch norm (x viewed as (n, c, hw))

    /** Two passes in double: mean = Σx / M, var = Σ(x − mean)² / M with M = n·hw (biased). */
    @Override
    public void batchNormStats(int n, int c, int hw, Tensor x, Tensor mean, Tensor var) {
        HostStorage xs = host(x);
        double count = (double) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int ni = 0; ni < n; ni++)
                for (int s = 0; s < hw; s++) sum += xs.get(x.offset() + (ni * c + ch) * hw + s);
            double mu = sum / count;
            double sq = 0;
            for (int ni = 0; ni < n; ni++) {
                for (int s = 0; s < hw; s++) {
                    double d = xs.get(x.offset() + (ni * c + ch) * hw + s) - mu;
                    sq += d * d;
                }
            }
            host(mean).set(mean.offset() + ch, mu);
            host(var).set(var.offset() + ch, sq / count);
        }
    }

    @Override
    public void batchNormForward(int n, int c, int hw, Tensor x, Tensor mean, Tensor invStd, Tensor weight, Tensor bias, Tensor y) {
        HostStorage xs = host(x), ys = host(y);
        for (int ch = 0; ch < c; ch++) {
            double mu = at(mean, ch), is = at(invStd, ch);
            double wv = weight == null ? 1.0 : at(weight, ch);
            double bv = bias == null ? 0.0 : at(bias, ch);
            for (int ni = 0; ni < n; ni++) {
                for (int s = 0; s < hw; s++) {
                    int p = (ni * c + ch) * hw + s;
                    ys.set(y.offset() + p, (xs.get(x.offset() + p) - mu) * is * wv + bv);
                }
            }
        }
    }

    /**
     * Per channel, with xhat = (x − mean) · invStd and M = n·hw: dBias = Σ dy, dWeight = Σ dy · xhat;
     * dx = invStd · w / M · (M · dy − Σ dy − xhat · Σ dy·xhat) when batchStats, else dx = dy · w · invStd.
     */
    @Override
    public void batchNormBackward(int n, int c, int hw, Tensor x, Tensor dy, Tensor mean, Tensor invStd, Tensor weight,
                                  boolean batchStats, Tensor dx, Tensor dWeight, Tensor dBias) {
        HostStorage xs = host(x), dys = host(dy);
        double count = (double) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double mu = at(mean, ch), is = at(invStd, ch);
            double wv = weight == null ? 1.0 : at(weight, ch);
            double sumDy = 0, sumDyXhat = 0;
            for (int ni = 0; ni < n; ni++) {
                for (int s = 0; s < hw; s++) {
                    int p = (ni * c + ch) * hw + s;
                    double g = dys.get(dy.offset() + p);
                    sumDy += g;
                    sumDyXhat += g * (xs.get(x.offset() + p) - mu) * is;
                }
            }
            if (dBias != null) host(dBias).set(dBias.offset() + ch, sumDy);
            if (dWeight != null) host(dWeight).set(dWeight.offset() + ch, sumDyXhat);
            if (dx == null) continue;
            for (int ni = 0; ni < n; ni++) {
                for (int s = 0; s < hw; s++) {
                    int p = (ni * c + ch) * hw + s;
                    double g = dys.get(dy.offset() + p);
                    double v;
                    if (batchStats) {
                        double xhat = (xs.get(x.offset() + p) - mu) * is;
                        v = is * wv / count * (count * g - sumDy - xhat * sumDyXhat);
                    } else {
                        v = g * wv * is;
                    }
                    host(dx).set(dx.offset() + p, v);
                }
            }
        }
    }

    // ======================================================================= pooling

    /**
     * y = the maximum over the window rows oy·strideH − padH + ky·dilationH (likewise columns) that
     * lie inside the input; padding is −∞. NaN wins, as in PyTorch ({@code val > max || isnan(val)}).
     */
    @Override
    public void maxPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        HostStorage xs = host(x), ys = host(y);
        int planes = g.n() * g.c(), plane = g.h() * g.w();
        for (int pl = 0; pl < planes; pl++) {
            for (int oy = 0; oy < g.oh(); oy++) {
                for (int ox = 0; ox < g.ow(); ox++) {
                    int arg = maxIndex(g, xs, x.offset() + pl * plane, oy, ox);
                    double v = arg < 0 ? Double.NEGATIVE_INFINITY : xs.get(x.offset() + pl * plane + arg);
                    ys.set(y.offset() + (pl * g.oh() + oy) * g.ow() + ox, v);
                }
            }
        }
    }

    /** Each dy goes to its window's argmax (the first maximum in row-major window order), summed in double. */
    @Override
    public void maxPool2dBackward(PoolGeometry g, Tensor x, Tensor dy, Tensor dx) {
        HostStorage xs = host(x), dys = host(dy), dxs = host(dx);
        int planes = g.n() * g.c(), plane = g.h() * g.w();
        double[] acc = new double[planes * plane];
        for (int pl = 0; pl < planes; pl++) {
            for (int oy = 0; oy < g.oh(); oy++) {
                for (int ox = 0; ox < g.ow(); ox++) {
                    int arg = maxIndex(g, xs, x.offset() + pl * plane, oy, ox);
                    if (arg >= 0) acc[pl * plane + arg] += dys.get(dy.offset() + (pl * g.oh() + oy) * g.ow() + ox);
                }
            }
        }
        for (int i = 0; i < acc.length; i++) dxs.set(dx.offset() + i, acc[i]);
    }

    /**
     * Index within the plane of the window's maximum, as PyTorch's CPU kernel picks it: start at the
     * first in-bounds position with max = −∞ and replace on {@code v > max || isNaN(v)}. −1 when no
     * window position lies inside the input (cannot happen for a valid geometry).
     */
    private static int maxIndex(PoolGeometry g, HostStorage xs, int planeOffset, int oy, int ox) {
        int best = -1;
        double max = Double.NEGATIVE_INFINITY;
        for (int ky = 0; ky < g.kh(); ky++) {
            int iy = oy * g.strideH() - g.padH() + ky * g.dilationH();
            if (iy < 0 || iy >= g.h()) continue;
            for (int kx = 0; kx < g.kw(); kx++) {
                int ix = ox * g.strideW() - g.padW() + kx * g.dilationW();
                if (ix < 0 || ix >= g.w()) continue;
                int index = iy * g.w() + ix;
                double v = xs.get(planeOffset + index);
                if (best < 0) best = index;
                if (v > max || Double.isNaN(v)) {
                    max = v;
                    best = index;
                }
            }
        }
        return best;
    }

    /**
     * y = (sum of the window's in-input elements) / divisor, following PyTorch's avg_pool2d: the window
     * rows are [hs, he) with hs = oy·strideH − padH, he = min(hs + kh, h + padH); with
     * countIncludePad the divisor is (he − hs)·(we − ws) taken before clipping to the input, otherwise
     * the number of in-input positions. Average pooling has no dilation (PyTorch has none).
     */
    @Override
    public void avgPool2dForward(PoolGeometry g, Tensor x, Tensor y) {
        requireNoDilation(g);
        HostStorage xs = host(x), ys = host(y);
        int planes = g.n() * g.c(), plane = g.h() * g.w();
        for (int pl = 0; pl < planes; pl++) {
            for (int oy = 0; oy < g.oh(); oy++) {
                for (int ox = 0; ox < g.ow(); ox++) {
                    int[] win = avgWindow(g, oy, ox);
                    double sum = 0;
                    for (int iy = win[0]; iy < win[1]; iy++)
                        for (int ix = win[2]; ix < win[3]; ix++) sum += xs.get(x.offset() + pl * plane + iy * g.w() + ix);
                    double v = win[4] == 0 ? 0.0 : sum / win[4];
                    ys.set(y.offset() + (pl * g.oh() + oy) * g.ow() + ox, v);
                }
            }
        }
    }

    /** dx[i] += dy / divisor for each in-input position i of each window (same divisor as the forward). */
    @Override
    public void avgPool2dBackward(PoolGeometry g, Tensor dy, Tensor dx) {
        requireNoDilation(g);
        HostStorage dys = host(dy), dxs = host(dx);
        int planes = g.n() * g.c(), plane = g.h() * g.w();
        double[] acc = new double[planes * plane];
        for (int pl = 0; pl < planes; pl++) {
            for (int oy = 0; oy < g.oh(); oy++) {
                for (int ox = 0; ox < g.ow(); ox++) {
                    int[] win = avgWindow(g, oy, ox);
                    if (win[4] == 0) continue;
                    double share = dys.get(dy.offset() + (pl * g.oh() + oy) * g.ow() + ox) / win[4];
                    for (int iy = win[0]; iy < win[1]; iy++)
                        for (int ix = win[2]; ix < win[3]; ix++) acc[pl * plane + iy * g.w() + ix] += share;
                }
            }
        }
        for (int i = 0; i < acc.length; i++) dxs.set(dx.offset() + i, acc[i]);
    }

    /** {rowStart, rowEnd, colStart, colEnd, divisor} of an average-pooling window, clipped to the input; divisor 0 if empty. */
    private static int[] avgWindow(PoolGeometry g, int oy, int ox) {
        int hs = oy * g.strideH() - g.padH(), ws = ox * g.strideW() - g.padW();
        int he = Math.min(hs + g.kh(), g.h() + g.padH()), we = Math.min(ws + g.kw(), g.w() + g.padW());
        int padded = (he - hs) * (we - ws);
        hs = Math.max(hs, 0);
        ws = Math.max(ws, 0);
        he = Math.min(he, g.h());
        we = Math.min(we, g.w());
        if (hs >= he || ws >= we) return new int[] {hs, hs, ws, ws, 0};
        int divisor = g.countIncludePad() ? padded : (he - hs) * (we - ws);
        return new int[] {hs, he, ws, we, divisor};
    }

    private static void requireNoDilation(PoolGeometry g) {
        if (g.dilationH() != 1 || g.dilationW() != 1)
            throw new IllegalArgumentException("average pooling has no dilation, got " + g.dilationH() + "x" + g.dilationW());
    }

    /** Cell (i, j) averages rows [floor(i·h/oh), ceil((i+1)·h/oh)) and columns [floor(j·w/ow), ceil((j+1)·w/ow)). */
    @Override
    public void adaptiveAvgPool2dForward(int planes, int h, int w, int oh, int ow, Tensor x, Tensor y) {
        HostStorage xs = host(x), ys = host(y);
        for (int pl = 0; pl < planes; pl++) {
            for (int i = 0; i < oh; i++) {
                int r0 = adaptiveStart(i, h, oh), r1 = adaptiveEnd(i, h, oh);
                for (int j = 0; j < ow; j++) {
                    int c0 = adaptiveStart(j, w, ow), c1 = adaptiveEnd(j, w, ow);
                    double sum = 0;
                    for (int r = r0; r < r1; r++)
                        for (int col = c0; col < c1; col++) sum += xs.get(x.offset() + (pl * h + r) * w + col);
                    ys.set(y.offset() + (pl * oh + i) * ow + j, sum / ((r1 - r0) * (c1 - c0)));
                }
            }
        }
    }

    /** dx[r, c] += dy[i, j] / (window size) for every window (i, j) containing (r, c); windows may overlap. */
    @Override
    public void adaptiveAvgPool2dBackward(int planes, int h, int w, int oh, int ow, Tensor dy, Tensor dx) {
        HostStorage dys = host(dy), dxs = host(dx);
        double[] acc = new double[planes * h * w];
        for (int pl = 0; pl < planes; pl++) {
            for (int i = 0; i < oh; i++) {
                int r0 = adaptiveStart(i, h, oh), r1 = adaptiveEnd(i, h, oh);
                for (int j = 0; j < ow; j++) {
                    int c0 = adaptiveStart(j, w, ow), c1 = adaptiveEnd(j, w, ow);
                    double share = dys.get(dy.offset() + (pl * oh + i) * ow + j) / ((r1 - r0) * (c1 - c0));
                    for (int r = r0; r < r1; r++)
                        for (int col = c0; col < c1; col++) acc[(pl * h + r) * w + col] += share;
                }
            }
        }
        for (int p = 0; p < acc.length; p++) dxs.set(dx.offset() + p, acc[p]);
    }

    static int adaptiveStart(int i, int in, int out) {
        return (int) Math.floorDiv((long) i * in, out);
    }

    static int adaptiveEnd(int i, int in, int out) {
        return (int) -Math.floorDiv(-(long) (i + 1) * in, out);   // ceil((i + 1) · in / out)
    }

    // ======================================================================= optimizers

    /**
     * torch.optim.SGD (1.13, maximize off), per element: g = grad + wd·p; with momentum,
     * buf = g on the first step, else momentum·buf + (1 − dampening)·g, then g = nesterov ? g + momentum·buf : buf;
     * p −= lr·g.
     */
    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, double lr, double momentum, double dampening,
                        double weightDecay, boolean nesterov, boolean firstStep) {
        HostStorage ps = host(param), gs = host(grad);
        HostStorage bs = momentumBuffer == null ? null : host(momentumBuffer);
        int count = Shapes.numel(param.shape());
        for (int i = 0; i < count; i++) {
            int pi = param.offset() + i;
            double p = ps.get(pi);
            double g = gs.get(grad.offset() + i);
            if (weightDecay != 0) g += weightDecay * p;
            if (momentum != 0) {
                int bi = momentumBuffer.offset() + i;
                double buf = firstStep ? g : momentum * bs.get(bi) + (1 - dampening) * g;
                bs.set(bi, buf);
                buf = bs.get(bi);                      // the stored value, as PyTorch reads it back
                g = nesterov ? g + momentum * buf : buf;
            }
            ps.set(pi, p - lr * g);
        }
    }

    /**
     * torch.optim.AdamW (1.13, amsgrad off, single-tensor path), per element at step t ≥ 1:
     * p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
     * denom = sqrt(v) / sqrt(1 − β2^t) + eps; p ← p − (lr / (1 − β1^t)) · m / denom.
     * p, m and v are written back (and re-read) between steps as PyTorch's in-place ops do.
     */
    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, double lr, double beta1, double beta2,
                          double eps, double weightDecay, int step) {
        HostStorage ps = host(param), gs = host(grad), ms = host(expAvg), vs = host(expAvgSq);
        double biasCorrection1 = 1 - Math.pow(beta1, step);
        double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        double stepSize = lr / biasCorrection1;
        int count = Shapes.numel(param.shape());
        for (int i = 0; i < count; i++) {
            int pi = param.offset() + i, mi = expAvg.offset() + i, vi = expAvgSq.offset() + i;
            double g = gs.get(grad.offset() + i);
            ps.set(pi, ps.get(pi) * (1 - lr * weightDecay));
            ms.set(mi, ms.get(mi) * beta1 + (1 - beta1) * g);
            vs.set(vi, vs.get(vi) * beta2 + (1 - beta2) * g * g);
            double denom = Math.sqrt(vs.get(vi)) / biasCorrection2Sqrt + eps;
            ps.set(pi, ps.get(pi) - stepSize * ms.get(mi) / denom);
        }
    }

    // ======================================================================= helpers

    private static HostStorage host(Storage s) {
        return (HostStorage) s;
    }

    private static HostStorage host(Tensor t) {
        return (HostStorage) t.storage();
    }

    /** Element ch of a contiguous 1-D tensor. */
    private static double at(Tensor t, int ch) {
        return host(t).get(t.offset() + ch);
    }

    /** Row-major index of (a, b, c, d) in a dense (·, nb, nc, nd) array. */
    private static int idx4(int a, int b, int c, int d, int nb, int nc, int nd) {
        return ((a * nb + b) * nc + c) * nd + d;
    }
}
