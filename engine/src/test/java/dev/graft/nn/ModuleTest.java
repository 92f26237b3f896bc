package dev.graft.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.backend.Backends;
import dev.graft.backend.reference.ReferenceBackend;
import dev.graft.tensor.DType;
import dev.graft.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ModuleTest {

    /** A torchvision-ResNet-like basic block: conv1, bn1, relu, conv2, bn2, optional downsample. */
    static final class Block extends Module {
        final Conv2d conv1, conv2;
        final BatchNorm2d bn1, bn2;
        final Module downsample;

        Block(int in, int out, int stride) {
            conv1 = register("conv1", new Conv2d(in, out, 3, stride, 1, false));
            bn1 = register("bn1", new BatchNorm2d(out));
            register("relu", new ReLU());
            conv2 = register("conv2", new Conv2d(out, out, 3, 1, 1, false));
            bn2 = register("bn2", new BatchNorm2d(out));
            downsample = stride != 1 || in != out
                    ? register("downsample", new Sequential(new Conv2d(in, out, 1, stride, 0, false), new BatchNorm2d(out)))
                    : null;
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = bn1.forward(conv1.forward(x)).relu();
            y = bn2.forward(conv2.forward(y));
            Tensor identity = downsample == null ? x : downsample.forward(x);
            return y.add(identity).relu();
        }
    }

    /** A tiny ResNet: conv1, bn1, layer1 (two blocks), layer2 (one block, downsampling), fc. */
    static final class TinyNet extends Module {
        TinyNet() {
            register("conv1", new Conv2d(3, 4, 3, 1, 1, false));
            register("bn1", new BatchNorm2d(4));
            register("relu", new ReLU());
            register("layer1", new Sequential(new Block(4, 4, 1), new Block(4, 4, 1)));
            register("layer2", new Sequential(new Block(4, 8, 2)));
            register("avgpool", new AdaptiveAvgPool2d(1));
            register("fc", new Linear(8, 5, true));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = child("relu").forward(child("bn1").forward(child("conv1").forward(x)));
            y = child("layer2").forward(child("layer1").forward(y));
            return child("fc").forward(child("avgpool").forward(y).flatten(1, -1));
        }
    }

    static Sequential smallNet() {
        return new Sequential(new Conv2d(3, 4, 3, 1, 1, false), new BatchNorm2d(4), new ReLU(),
                new AdaptiveAvgPool2d(1, 1), new Flatten(), new Linear(4, 2, true));
    }

    static Tensor randn(long seed, int... shape) {
        return Tensor.randn(new SplittableRandom(seed), shape);
    }

    @Test
    void stateDictNamesOfASequentialMatchPyTorch() {
        assertThat(smallNet().stateDict().keySet())
                .containsExactly("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "5.weight", "5.bias");
    }

    @Test
    void stateDictInterleavesParametersBuffersAndChildrenPerModule() {
        var keys = List.copyOf(new TinyNet().stateDict().keySet());
        assertThat(keys.subList(0, 5)).containsExactly("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var");
        assertThat(keys.subList(5, 15)).containsExactly(
                "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias", "layer1.0.bn2.running_mean", "layer1.0.bn2.running_var");
        assertThat(keys).contains("layer1.1.bn2.running_var", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean");
        assertThat(keys.subList(keys.size() - 2, keys.size())).containsExactly("fc.weight", "fc.bias");
        assertThat(keys).hasSize(5 + 10 + 10 + 10 + 5 + 2);
    }

    @Test
    void aModuleWithItsOwnTensorsAndChildrenListsItsOwnFirst() {
        Module m = new Module() {
            {
                register("first", new Linear(2, 2, false));
                parameter("scale", Tensor.ones(2));
                buffer("count", Tensor.zeros(1));
                register("second", new BatchNorm2d(2));
            }

            @Override
            public Tensor forward(Tensor x) { return x; }
        };
        // PyTorch: own parameters, own buffers, then children in registration order.
        assertThat(m.stateDict().keySet()).containsExactly("scale", "count", "first.weight",
                "second.weight", "second.bias", "second.running_mean", "second.running_var");
        assertThat(m.namedParameters().keySet()).containsExactly("scale", "first.weight", "second.weight", "second.bias");
        assertThat(m.namedBuffers().keySet()).containsExactly("count", "second.running_mean", "second.running_var");
    }

    @Test
    void parametersAndBuffersAreListedSeparatelyInModuleOrder() {
        TinyNet net = new TinyNet();
        assertThat(net.namedParameters().keySet()).startsWith("conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight")
                .endsWith("fc.weight", "fc.bias")
                .noneMatch(k -> k.contains("running"));
        assertThat(net.namedBuffers().keySet()).startsWith("bn1.running_mean", "bn1.running_var", "layer1.0.bn1.running_mean")
                .allMatch(k -> k.contains("running"));
        // stateDict = parameters ∪ buffers, same tensors.
        LinkedHashMap<String, Tensor> sd = net.stateDict();
        assertThat(sd).hasSize(net.namedParameters().size() + net.namedBuffers().size());
        net.namedParameters().forEach((k, v) -> assertThat(sd.get(k)).isSameAs(v));
        long expected = 3 * 4 * 9 + 8                          // conv1, bn1
                + 2 * (4 * 4 * 9 * 2 + 4 * 4)                   // layer1: two blocks
                + (4 * 8 * 9 + 8 * 8 * 9 + 4 * 8 + 3 * 16)      // layer2: convs, downsample conv, three BNs
                + 8 * 5 + 5;                                    // fc
        assertThat(net.numParameters()).isEqualTo(expected);
        assertThat(net.parameters()).hasSize(net.namedParameters().size());
    }

    @Test
    void namedModulesAndModuleLookup() {
        TinyNet net = new TinyNet();
        assertThat(net.namedModules().keySet()).startsWith("", "conv1", "bn1", "relu", "layer1", "layer1.0", "layer1.0.conv1")
                .contains("layer2.0.downsample.1");
        assertThat(net.module("layer1.1.bn2")).isInstanceOf(BatchNorm2d.class);
        assertThat(net.module("")).isSameAs(net);
        assertThat(net.children()).hasSize(7);
        List<String> visited = new java.util.ArrayList<>();
        net.module("layer2.0.downsample").apply(m -> visited.add(m.getClass().getSimpleName()));
        assertThat(visited).containsExactly("Conv2d", "BatchNorm2d", "Sequential");
        assertThat(net.getParameter("layer2.0.downsample.0.weight").shape()).containsExactly(8, 4, 1, 1);
        assertThat(net.getBuffer("bn1.running_var").toFloatArray()).containsOnly(1f);
        assertThatThrownBy(() -> net.module("layer1.7.conv1"))
                .isInstanceOf(GraftException.class).hasMessageContaining("layer1.7.conv1").hasMessageContaining("layer1.7");
        assertThatThrownBy(() -> net.getParameter("fc.gamma")).isInstanceOf(GraftException.class).hasMessageContaining("fc.gamma");
    }

    @Test
    void setModuleReplacesAHeadInASequential() {
        Sequential net = smallNet();
        net.setModule("5", new Linear(4, 7, false));
        assertThat(net.stateDict().keySet()).endsWith("1.running_var", "5.weight");
        assertThat(net.forward(randn(1, 2, 3, 6, 6)).shape()).containsExactly(2, 7);
    }

    @Test
    void loadStateDictRoundTripsValuesAndKeepsTensorIdentity() {
        Init.manualSeed(1);
        Sequential a = smallNet();
        Init.manualSeed(2);
        Sequential b = smallNet();
        a.train().forward(randn(3, 4, 3, 5, 5)); // move a's running statistics off their defaults
        assertThat(b.stateDict().get("0.weight").toFloatArray()).isNotEqualTo(a.stateDict().get("0.weight").toFloatArray());
        Tensor bWeight = b.stateDict().get("0.weight");

        LoadResult r = b.loadStateDict(a.stateDict(), true);

        assertThat(r.missing()).isEmpty();
        assertThat(r.unexpected()).isEmpty();
        assertThat(r.isExactMatch()).isTrue();
        a.stateDict().forEach((k, v) -> assertThat(b.stateDict().get(k).toFloatArray()).as(k).containsExactly(v.toFloatArray()));
        assertThat(b.stateDict().get("0.weight")).isSameAs(bWeight);
        assertThat(bWeight.requiresGrad()).isTrue();
        assertThat(bWeight.isLeaf()).isTrue();
        Tensor x = randn(4, 2, 3, 5, 5);
        assertThat(b.eval().forward(x).toFloatArray()).containsExactly(a.eval().forward(x).toFloatArray());
        // The copy is by value: changing the source afterwards does not reach b.
        a.stateDict().get("5.bias").fill(42);
        assertThat(b.stateDict().get("5.bias").toFloatArray()).doesNotContain(42f);
    }

    @Test
    void loadStateDictConvertsTheElementType() {
        Sequential net = smallNet();
        Map<String, Tensor> state = new LinkedHashMap<>();
        net.stateDict().forEach((k, v) -> state.put(k, Tensor.full(ReferenceBackend.FLOAT64, 0.25, v.shape())));
        net.loadStateDict(state, true);
        assertThat(net.stateDict().get("1.running_mean").dtype()).isEqualTo(DType.FLOAT32);
        assertThat(net.stateDict().get("5.weight").toFloatArray()).containsOnly(0.25f);
    }

    @Test
    void shapeMismatchNamesTheKeyAndBothShapesAndCopiesNothing() {
        Sequential net = smallNet();
        Map<String, Tensor> state = new LinkedHashMap<>(new Sequential(new Conv2d(3, 4, 3, 1, 1, false), new BatchNorm2d(4), new ReLU(),
                new AdaptiveAvgPool2d(1, 1), new Flatten(), new Linear(4, 10, true)).stateDict());
        float[] before = net.stateDict().get("0.weight").toFloatArray();
        assertThatThrownBy(() -> net.loadStateDict(state, false))
                .isInstanceOf(GraftException.class)
                .hasMessageContaining("5.weight").hasMessageContaining("[10, 4]").hasMessageContaining("[2, 4]")
                .hasMessageContaining("5.bias").hasMessageContaining("[10]");
        assertThat(net.stateDict().get("0.weight").toFloatArray()).containsExactly(before);
    }

    @Test
    void strictLoadingListsMissingAndUnexpectedKeys() {
        Sequential net = smallNet();
        Map<String, Tensor> state = new LinkedHashMap<>(net.stateDict());
        state.remove("1.running_var");
        state.put("1.num_batches_tracked", Tensor.zeros(1));
        assertThatThrownBy(() -> net.loadStateDict(state, true))
                .isInstanceOf(GraftException.class)
                .hasMessageContaining("missing keys [1.running_var]")
                .hasMessageContaining("unexpected keys [1.num_batches_tracked]");
        state.put("5.bias", Tensor.full(Backends.cpu(), 3, 2));
        LoadResult r = net.loadStateDict(state, false);
        assertThat(r.missing()).containsExactly("1.running_var");
        assertThat(r.unexpected()).containsExactly("1.num_batches_tracked");
        assertThat(r.isExactMatch()).isFalse();
        assertThat(net.stateDict().get("5.bias").toFloatArray()).containsExactly(3f, 3f);
    }

    @Test
    void toMovesEveryTensorToTheBackend() {
        Sequential net = smallNet();
        net.freeze();
        net.module("5").unfreeze();
        Tensor x = randn(5, 2, 3, 4, 4);
        float[] expected = net.eval().forward(x).toFloatArray();
        net.to(ReferenceBackend.FLOAT64);
        net.stateDict().forEach((k, v) -> assertThat(v.backend()).as(k).isSameAs(ReferenceBackend.FLOAT64));
        assertThat(net.getParameter("0.weight").requiresGrad()).isFalse();
        assertThat(net.getParameter("5.weight").requiresGrad()).isTrue();
        assertThat(net.getParameter("5.weight").isLeaf()).isTrue();
        double[] out = net.forward(x.to(ReferenceBackend.FLOAT64)).toDoubleArray();
        for (int i = 0; i < out.length; i++) assertThat(out[i]).isCloseTo(expected[i], org.assertj.core.api.Assertions.within(1e-5));
    }

    @Test
    void initIsDeterministicForASeedAndFollowsPyTorchBounds() {
        Init.manualSeed(7);
        Conv2d c1 = new Conv2d(8, 16, 3, 1, 1, 1, 2, true);
        Linear l1 = new Linear(50, 10, true);
        Init.manualSeed(7);
        Conv2d c2 = new Conv2d(8, 16, 3, 1, 1, 1, 2, true);
        Linear l2 = new Linear(50, 10, true);
        assertThat(c2.weight().toFloatArray()).containsExactly(c1.weight().toFloatArray());
        assertThat(l2.bias().toFloatArray()).containsExactly(l1.bias().toFloatArray());
        Init.manualSeed(8);
        assertThat(new Linear(50, 10, true).weight().toFloatArray()).isNotEqualTo(l1.weight().toFloatArray());

        assertThat(c1.weight().shape()).containsExactly(16, 4, 3, 3);
        checkUniform(c1.weight(), 1 / Math.sqrt(4 * 9));   // fan_in = in/groups · kh · kw
        checkUniform(c1.bias(), 1 / Math.sqrt(4 * 9));
        checkUniform(l1.weight(), 1 / Math.sqrt(50));
        checkUniform(l1.bias(), 1 / Math.sqrt(50));
        BatchNorm2d bn = new BatchNorm2d(3);
        assertThat(bn.weight().toFloatArray()).containsOnly(1f);
        assertThat(bn.bias().toFloatArray()).containsOnly(0f);
        assertThat(bn.runningMean().toFloatArray()).containsOnly(0f);
        assertThat(bn.runningVar().toFloatArray()).containsOnly(1f);
    }

    /** All values inside (−bound, bound) and spread over most of it. */
    private static void checkUniform(Tensor t, double bound) {
        float[] v = t.toFloatArray();
        double min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
        for (float f : v) {
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        assertThat(min).isGreaterThanOrEqualTo(-bound);
        assertThat(max).isLessThanOrEqualTo(bound);
        if (v.length >= 10) {
            assertThat(min).isLessThan(-bound / 2);
            assertThat(max).isGreaterThan(bound / 2);
        }
    }

    @Test
    void toStringPrintsATreeLikePyTorch() {
        Sequential net = new Sequential(new Conv2d(3, 8, 3, 2, 1, false), new BatchNorm2d(8), new ReLU(),
                new MaxPool2d(3, 2, 1), new Sequential(new Conv2d(8, 8, 3, 1, 1, 1, 8, true), new Dropout(0.2, 1)),
                new AdaptiveAvgPool2d(1), new Flatten(), new Linear(8, 10, true));
        assertThat(net.toString()).isEqualTo("""
                Sequential(
                  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
                  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
                  (2): ReLU()
                  (3): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)
                  (4): Sequential(
                    (0): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=8)
                    (1): Dropout(p=0.2, inplace=False)
                  )
                  (5): AdaptiveAvgPool2d(output_size=(1, 1))
                  (6): Flatten(start_dim=1, end_dim=-1)
                  (7): Linear(in_features=8, out_features=10, bias=True)
                )""");
        assertThat(new Scaled().toString()).isEqualTo("""
                Scaled(
                  factor=2.0
                  (inner): Identity()
                )""");
        assertThat(new BatchNorm2d(4, 1e-3, 0.01).toString())
                .isEqualTo("BatchNorm2d(4, eps=0.001, momentum=0.01, affine=True, track_running_stats=True)");
    }

    /** A module with both an extra representation and a child. */
    static final class Scaled extends Module {
        Scaled() {
            register("inner", new Identity());
        }

        @Override
        public Tensor forward(Tensor x) { return x.mul(2.0); }

        @Override
        protected String extraRepr() { return "factor=" + pyFloat(2); }
    }

    @Test
    void registrationRejectsBadNames() {
        assertThatThrownBy(() -> new Sequential().add("a.b", new ReLU())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("a.b");
    }
}
