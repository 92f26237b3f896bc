package dev.graft.parity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.nn.BatchNorm2d;
import dev.graft.ops.Concat;
import dev.graft.ops.Convolution;
import dev.graft.ops.Dropout;
import dev.graft.ops.Elementwise;
import dev.graft.ops.LinearAlgebra;
import dev.graft.ops.Losses;
import dev.graft.ops.Normalization;
import dev.graft.ops.Pooling;
import dev.graft.ops.Reductions;
import dev.graft.ops.Views;
import dev.graft.backend.Backends;
import dev.graft.tensor.DType;
import dev.graft.tensor.Device;
import dev.graft.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every op case of the torch fixture manifest, forward and backward, through the float32 CPU backend
 * and through the float64 reference backend. A new fixture is a new test; a fixture whose op has no
 * entry in {@link #OPS} fails.
 */
class OpParityTest {

    /** One line per op: how Graft computes the case from its inputs and parameters. */
    static final Map<String, Function<OpCase, Tensor>> OPS = Map.ofEntries(
            Map.entry("conv2d", c -> Convolution.conv2d(c.in("x"), c.in("weight"), c.optional("bias"),
                    c.intsParam("stride"), c.intsParam("padding"), c.intsParam("dilation"), c.param("groups"))),
            Map.entry("linear", c -> LinearAlgebra.linear(c.in("x"), c.in("weight"), c.optional("bias"))),
            Map.entry("matmul", c -> LinearAlgebra.matmul(c.in("a"), c.in("b"))),
            Map.entry("batch_norm", c -> Normalization.batchNorm(c.in("x"), c.in("running_mean"), c.in("running_var"),
                    c.in("weight"), c.in("bias"), c.flag("training"), c.doubleParam("momentum"), c.doubleParam("eps"))),
            Map.entry("batch_norm_frozen_module", OpParityTest::frozenBatchNorm),
            Map.entry("relu", c -> Elementwise.relu(c.in("x"))),
            Map.entry("relu6", c -> Elementwise.relu6(c.in("x"))),
            Map.entry("silu", c -> Elementwise.silu(c.in("x"))),
            Map.entry("hardswish", c -> Elementwise.hardswish(c.in("x"))),
            Map.entry("hardsigmoid", c -> Elementwise.hardsigmoid(c.in("x"))),
            Map.entry("sigmoid", c -> Elementwise.sigmoid(c.in("x"))),
            Map.entry("tanh", c -> Elementwise.tanh(c.in("x"))),
            Map.entry("add", c -> Elementwise.add(c.in("a"), c.in("b"))),
            Map.entry("sub", c -> Elementwise.sub(c.in("a"), c.in("b"))),
            Map.entry("mul", c -> Elementwise.mul(c.in("a"), c.in("b"))),
            Map.entry("div", c -> Elementwise.div(c.in("a"), c.in("b"))),
            Map.entry("max_pool2d", c -> Pooling.maxPool2d(c.in("x"), c.intsParam("kernel"), c.intsParam("stride"),
                    c.intsParam("padding"), c.intsParam("dilation"), c.flag("ceil_mode"))),
            Map.entry("avg_pool2d", c -> Pooling.avgPool2d(c.in("x"), c.intsParam("kernel"), c.intsParam("stride"),
                    c.intsParam("padding"), c.flag("ceil_mode"), c.flag("count_include_pad"))),
            Map.entry("adaptive_avg_pool2d", c -> Pooling.adaptiveAvgPool2d(c.in("x"), c.intsParam("output_size")[0], c.intsParam("output_size")[1])),
            Map.entry("softmax", c -> Reductions.softmax(c.in("x"), c.param("dim"))),
            Map.entry("log_softmax", c -> Reductions.logSoftmax(c.in("x"), c.param("dim"))),
            Map.entry("cross_entropy", c -> Losses.crossEntropy(c.in("logits"), c.ints("target"), c.doubleParam("label_smoothing"))),
            Map.entry("sum", c -> c.intsParam("dims") == null ? Reductions.sum(c.in("x")) : Reductions.sum(c.in("x"), c.intsParam("dims"), c.flag("keepdim"))),
            Map.entry("mean", c -> c.intsParam("dims") == null ? Reductions.mean(c.in("x")) : Reductions.mean(c.in("x"), c.intsParam("dims"), c.flag("keepdim"))),
            Map.entry("concat", c -> Concat.concat(c.all(), c.param("dim"))),
            Map.entry("dropout", c -> Dropout.dropout(c.in("x"), c.doubleParam("p"), c.flag("training"), new SplittableRandom(1))),
            Map.entry("flatten", c -> Views.flatten(c.in("x"), c.param("start"), c.param("end"))),
            Map.entry("transpose", c -> Views.transpose(c.in("x"), c.intsParam("dims")[0], c.intsParam("dims")[1])),
            Map.entry("permute", c -> Views.permute(c.in("x"), c.intsParam("order"))),
            Map.entry("reshape", c -> Views.reshape(c.in("x"), c.intsParam("shape"))),
            Map.entry("permute_reshape", c -> Views.reshape(Views.permute(c.in("x"), c.intsParam("order")), c.intsParam("shape"))),
            Map.entry("slice", c -> Views.slice(c.in("x"), c.param("dim"), c.param("start"), c.param("end"))),
            Map.entry("unsqueeze", c -> Views.unsqueeze(c.in("x"), c.param("dim"))),
            Map.entry("squeeze", c -> Views.squeeze(c.in("x"), c.param("dim"))),
            Map.entry("expand", c -> Views.expand(c.in("x"), c.intsParam("shape"))));

    /**
     * A BatchNorm2d module holding the fixture's running statistics, in training mode with frozen
     * statistics (BN inference), must give torch's eval-mode output and gradients, and leave the
     * statistics untouched.
     */
    static Tensor frozenBatchNorm(OpCase c) {
        Tensor x = c.in("x");
        BatchNorm2d bn = new BatchNorm2d(x.size(1), c.doubleParam("eps"), c.doubleParam("momentum"));
        bn.loadStateDict(Map.of("weight", c.in("weight"), "bias", c.in("bias"),
                "running_mean", c.in("running_mean"), "running_var", c.in("running_var")), true);
        bn.to(Backends.get(Device.CPU, c.dtype()));
        bn.train();
        bn.setBatchNormInference(true);
        c.gradOf("weight", bn.weight());
        c.gradOf("bias", bn.bias());
        c.extra("running_mean", bn.runningMean());
        c.extra("running_var", bn.runningVar());
        return bn.forward(x);
    }

    @TestFactory
    Stream<DynamicTest> float32CpuBackend() {
        return tests(DType.FLOAT32);
    }

    @TestFactory
    Stream<DynamicTest> float64ReferenceBackend() {
        return tests(DType.FLOAT64);
    }

    private static Stream<DynamicTest> tests(DType dtype) {
        List<Fixtures.Case> cases = new ArrayList<>(Fixtures.cases("op"));
        cases.addAll(Fixtures.cases("module"));
        assertThat(cases).as("op cases in manifest.json").isNotEmpty();
        return cases.stream().map(spec -> DynamicTest.dynamicTest(spec.name() + " [" + dtype + "]", () -> {
            Function<OpCase, Tensor> op = OPS.get(spec.op());
            if (op == null) throw new AssertionError("fixture case " + spec.name() + " uses op '" + spec.op() + "', which OpParityTest.OPS does not know: add a line for it");
            try {
                System.out.println("PARITY " + OpCase.run(spec, dtype, op));
            } catch (RuntimeException e) { // name the case: dynamic tests show up as [n] in some reports
                throw new AssertionError(spec.name() + " [" + dtype + "] threw " + e, e);
            }
        }));
    }

    @Test
    void everyCaseFileIsPresentAndTheManifestNamesItsProvenance() {
        assertThat(Fixtures.manifest().path("torch_version").asText()).isNotEmpty();
        assertThat(Fixtures.manifest().path("generator").asText()).isEqualTo("tools/fixtures/generate_torch_fixtures.py");
        for (String kind : List.of("op", "module", "train_step"))
            for (Fixtures.Case c : Fixtures.cases(kind)) Fixtures.path(c.file());
        assertThat(Fixtures.cases("train_step")).isNotEmpty();
    }
}
