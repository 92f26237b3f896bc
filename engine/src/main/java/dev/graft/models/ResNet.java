package dev.graft.models;

import dev.graft.GraftException;
import dev.graft.nn.AdaptiveAvgPool2d;
import dev.graft.nn.BatchNorm2d;
import dev.graft.nn.Conv2d;
import dev.graft.nn.Init;
import dev.graft.nn.Linear;
import dev.graft.nn.MaxPool2d;
import dev.graft.nn.Module;
import dev.graft.nn.ReLU;
import dev.graft.nn.Sequential;
import dev.graft.tensor.Tensor;
import java.util.Arrays;

/**
 * torchvision 0.14's ResNet (the "V1.5" variant: a Bottleneck downsamples in its 3×3 conv): {@code conv1}
 * 7×7/2, {@code bn1}, {@code relu}, {@code maxpool} 3×3/2, {@code layer1}…{@code layer4} of
 * {@link BasicBlock}s or {@link Bottleneck}s, {@code avgpool} (global) and the classifier {@code fc}.
 * A block whose stride or width changes has {@code downsample} = Sequential(1×1 conv, BatchNorm).
 * Initialization as torchvision: convs kaiming_normal (fan_out, ReLU gain), BatchNorm weight 1 and
 * bias 0, {@code fc} PyTorch's Linear default. See {@link Models} for resnet18/34/50/101.
 */
public final class ResNet extends ImageClassifier {

    /** The residual block type and its channel expansion. */
    public enum BlockType {
        BASIC(1), BOTTLENECK(4);

        private final int expansion;

        BlockType(int expansion) {
            this.expansion = expansion;
        }

        public int expansion() {
            return expansion;
        }
    }

    private final BlockType blockType;
    private final int[] layers;

    /**
     * @param architecture name reported by {@link #architecture()}
     * @param blockType    BASIC (resnet18/34) or BOTTLENECK (resnet50/101/152)
     * @param layers       number of blocks in layer1..layer4, e.g. {2, 2, 2, 2}
     * @param numClasses   outputs of {@code fc}
     */
    public ResNet(String architecture, BlockType blockType, int[] layers, int numClasses) {
        super(architecture, "fc", 512 * blockType.expansion(), Preprocessing.IMAGENET);
        if (layers.length != 4 || Arrays.stream(layers).anyMatch(n -> n <= 0))
            throw new GraftException("ResNet needs 4 positive block counts, got " + Arrays.toString(layers));
        if (numClasses <= 0) throw new GraftException(architecture + ": number of classes must be positive, got " + numClasses);
        this.blockType = blockType;
        this.layers = layers.clone();
        register("conv1", new Conv2d(3, 64, 7, 2, 3, false));
        register("bn1", new BatchNorm2d(64));
        register("relu", new ReLU());
        register("maxpool", new MaxPool2d(3, 2, 1));
        int[] in = {64};
        register("layer1", makeLayer(in, 64, layers[0], 1));
        register("layer2", makeLayer(in, 128, layers[1], 2));
        register("layer3", makeLayer(in, 256, layers[2], 2));
        register("layer4", makeLayer(in, 512, layers[3], 2));
        register("avgpool", new AdaptiveAvgPool2d(1, 1));
        register("fc", new Linear(numFeatures(), numClasses, true));
        for (Module m : namedModules().values())
            if (m instanceof Conv2d c) Init.kaimingNormal(c.weight(), 0, Init.FanMode.FAN_OUT);
    }

    private Sequential makeLayer(int[] in, int planes, int blocks, int stride) {
        int out = planes * blockType.expansion();
        Sequential downsample = stride != 1 || in[0] != out
                ? new Sequential(conv1x1(in[0], out, stride), new BatchNorm2d(out)) : null;
        Sequential layer = new Sequential();
        for (int i = 0; i < blocks; i++) {
            int s = i == 0 ? stride : 1;
            Sequential ds = i == 0 ? downsample : null;
            layer.add(blockType == BlockType.BASIC ? new BasicBlock(in[0], planes, s, ds) : new Bottleneck(in[0], planes, s, ds));
            in[0] = out;
        }
        return layer;
    }

    static Conv2d conv3x3(int in, int out, int stride) {
        return new Conv2d(in, out, 3, stride, 1, false);
    }

    static Conv2d conv1x1(int in, int out, int stride) {
        return new Conv2d(in, out, 1, stride, 0, false);
    }

    public BlockType blockType() {
        return blockType;
    }

    /** Blocks per stage (layer1..layer4). */
    public int[] layers() {
        return layers.clone();
    }

    @Override
    public Tensor features(Tensor x) {
        x = run("maxpool", BatchNorm2d.convForwardThen(child("conv1"), child("bn1"), child("relu"), x));
        x = run("layer4", run("layer3", run("layer2", run("layer1", x))));
        return run("avgpool", x).flatten(1, -1);
    }

    @Override
    public Tensor forward(Tensor x) {
        return run("fc", features(x));
    }

    @Override
    protected void initClassifier(Linear head) {
        // PyTorch's Linear default (torchvision leaves fc as constructed)
    }

    /** Two 3×3 convs (expansion 1), as torchvision.models.resnet.BasicBlock. */
    public static final class BasicBlock extends Module {
        public BasicBlock(int inplanes, int planes, int stride, Sequential downsample) {
            register("conv1", conv3x3(inplanes, planes, stride));
            register("bn1", new BatchNorm2d(planes));
            register("relu", new ReLU());
            register("conv2", conv3x3(planes, planes, 1));
            register("bn2", new BatchNorm2d(planes));
            if (downsample != null) register("downsample", downsample);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor out = BatchNorm2d.convForwardThen(child("conv1"), child("bn1"), child("relu"), x);
            Module ds = child("downsample");
            return BatchNorm2d.convForwardAddThen(child("conv2"), child("bn2"), ds == null ? x : ds.forward(x), child("relu"), out);
        }
    }

    /** 1×1 reduce, 3×3 (carrying the stride), 1×1 expand (expansion 4), as torchvision's Bottleneck. */
    public static final class Bottleneck extends Module {
        public Bottleneck(int inplanes, int planes, int stride, Sequential downsample) {
            int width = planes; // base_width 64, groups 1
            register("conv1", conv1x1(inplanes, width, 1));
            register("bn1", new BatchNorm2d(width));
            register("conv2", conv3x3(width, width, stride));
            register("bn2", new BatchNorm2d(width));
            register("conv3", conv1x1(width, planes * 4, 1));
            register("bn3", new BatchNorm2d(planes * 4));
            register("relu", new ReLU());
            if (downsample != null) register("downsample", downsample);
        }

        @Override
        public Tensor forward(Tensor x) {
            Module relu = child("relu");
            Tensor out = BatchNorm2d.convForwardThen(child("conv1"), child("bn1"), relu, x);
            out = BatchNorm2d.convForwardThen(child("conv2"), child("bn2"), relu, out);
            Module ds = child("downsample");
            return BatchNorm2d.convForwardAddThen(child("conv3"), child("bn3"), ds == null ? x : ds.forward(x), relu, out);
        }
    }
}
