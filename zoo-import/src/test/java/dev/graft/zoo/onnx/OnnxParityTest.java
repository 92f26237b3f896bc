package dev.graft.zoo.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.autograd.Autograd;
import dev.graft.graph.GraphClassifier;
import dev.graft.graph.GraphModule;
import dev.graft.io.Npy;
import dev.graft.nn.Linear;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * torchvision models exported by torch.onnx (random weights, perturbed BatchNorm statistics), imported
 * and run by Graft: eval-mode logits must match torchvision's to max|diff| / max|ref| ≤ 1e-4.
 */
class OnnxParityTest {
    private static final double TOLERANCE = 1e-4;

    private static OnnxModel check(String name) {
        Path dir = OnnxFixtures.dir();
        long t0 = System.nanoTime();
        OnnxModel model = OnnxModel.read(dir.resolve(name + ".onnx"));
        GraphModule g = model.graph().orElseThrow();
        long importMs = (System.nanoTime() - t0) / 1_000_000;
        Tensor x = Npy.read(dir.resolve(name + ".input.npy")), ref = Npy.read(dir.resolve(name + ".logits.npy"));
        long t1 = System.nanoTime();
        Tensor y;
        try (var _ = Autograd.noGrad()) {
            y = g.forward(x);
        }
        long forwardMs = (System.nanoTime() - t1) / 1_000_000;
        assertThat(y.shape()).containsExactly(ref.shape());
        double rel = relativeError(y, ref);
        System.out.printf("[OnnxParityTest] %s (opset %d): max|diff|/max|ref| = %.3g (import %d ms, forward %s %d ms, %d graph nodes)%n",
                name, model.opset(), rel, importMs, Arrays.toString(x.shape()), forwardMs, g.nodes().size());
        assertThat(rel).as(name).isLessThanOrEqualTo(TOLERANCE);
        return model;
    }

    static double relativeError(Tensor y, Tensor ref) {
        float[] a = y.toFloatArray(), b = ref.toFloatArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }

    @Test
    void resnet18() {
        OnnxModel m = check("resnet18");
        assertThat(m.opCounts()).containsKeys("Conv", "Gemm", "GlobalAveragePool", "Flatten", "MaxPool", "Add", "Relu");
        System.out.print(m.describe());
        GraphClassifier c = m.classifier();
        assertThat(c.numFeatures()).isEqualTo(512);
        assertThat(c.architecture()).isEqualTo("resnet18");
        assertThat(m.stateDict().keySet()).hasSize(m.tensors().size());
    }

    @Test
    void resnet50() {
        assertThat(check("resnet50").classifier().numFeatures()).isEqualTo(2048);
    }

    @Test
    void mobilenetV2() {
        OnnxModel m = check("mobilenet_v2");
        assertThat(m.opCounts()).containsKeys("Clip", "GlobalAveragePool");
    }

    @Test
    void resnet18Opset11() {
        assertThat(check("resnet18_opset11").opset()).isEqualTo(11);
    }

    @Test
    void mobilenetV2WithBatchNormNodes() {
        OnnxModel m = check("mobilenet_v2_bn");
        assertThat(m.opCounts()).containsKey("BatchNormalization");
        assertThat(m.nodes()).anyMatch(n -> n.op().equals("batchnorm"));
    }

    @Test
    void tinyModelWithShapeArithmeticMatMulAndSoftmax() {
        OnnxModel m = check("tiny");
        assertThat(m.opCounts()).containsKeys("Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "MatMul", "Softmax");
        // Shape arithmetic is folded: a reshape with a dynamic batch, and MatMul + Add become one linear layer
        assertThat(m.nodes()).anyMatch(n -> n.op().equals("reshape") && Arrays.equals(n.intsAttr("shape"), new int[] {-1, 128}));
        assertThat(m.nodes()).anyMatch(n -> n.op().equals("linear") && n.boolAttr("bias", false));
        assertThat(m.nodes()).noneMatch(n -> n.op().equals("const") && n.inputs().isEmpty() && Arrays.equals(n.intsAttr("shape"), new int[] {2}));
    }

    @Test
    void classifierSplitsAtThePoolingAndTheHeadIsReplaceable() {
        Path dir = OnnxFixtures.dir();
        OnnxModel model = OnnxModel.read(dir.resolve("mobilenet_v2.onnx"));
        GraphClassifier c = model.classifier();
        assertThat(c.numFeatures()).isEqualTo(1280);
        assertThat(c.numClasses()).isEqualTo(1000);
        c.eval();
        Tensor x = Npy.read(dir.resolve("mobilenet_v2.input.npy")), ref = Npy.read(dir.resolve("mobilenet_v2.logits.npy"));
        try (var _ = Autograd.noGrad()) {
            assertThat(relativeError(c.forward(x), ref)).isLessThanOrEqualTo(TOLERANCE);
        }
        Linear head = c.replaceClassifier(7);
        assertThat(head.outFeatures()).isEqualTo(7);
        c.freezeBackbone();
        try (var _ = Autograd.noGrad()) {
            assertThat(c.forward(x).shape()).containsExactly(2, 7);
        }
        assertThat(c.trainableParameters()).hasSize(2);
    }

    @Test
    void batchIsDynamic() {
        Path dir = OnnxFixtures.dir();
        GraphModule g = OnnxModel.read(dir.resolve("tiny.onnx")).graph().orElseThrow();
        Tensor x = Npy.read(dir.resolve("tiny.input.npy")), ref = Npy.read(dir.resolve("tiny.logits.npy"));
        Tensor one = dev.graft.ops.Views.slice(x, 0, 1, 2).contiguous();
        try (var _ = Autograd.noGrad()) {
            float[] y = g.forward(one).toFloatArray();
            float[] r = Arrays.copyOfRange(ref.toFloatArray(), 5, 10);
            for (int i = 0; i < 5; i++) assertThat((double) y[i]).isCloseTo(r[i], org.assertj.core.data.Offset.offset(1e-5));
        }
    }
}
