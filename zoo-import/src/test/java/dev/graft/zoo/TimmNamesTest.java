package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.models.Models;
import dev.graft.tensor.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** timm key names against the keys of Graft's (torchvision-named) models. */
class TimmNamesTest {
    private static final Path FILE = Path.of("timm.pth");

    @Test
    void mobilenetV2KeysMapOntoEveryTorchvisionKey() {
        assertThat(TimmNames.mobileNetV2Key("conv_stem.weight")).isEqualTo("features.0.0.weight");
        assertThat(TimmNames.mobileNetV2Key("bn1.running_var")).isEqualTo("features.0.1.running_var");
        assertThat(TimmNames.mobileNetV2Key("blocks.0.0.conv_dw.weight")).isEqualTo("features.1.conv.0.0.weight");
        assertThat(TimmNames.mobileNetV2Key("blocks.0.0.bn2.bias")).isEqualTo("features.1.conv.2.bias");
        assertThat(TimmNames.mobileNetV2Key("blocks.1.0.conv_pw.weight")).isEqualTo("features.2.conv.0.0.weight");
        assertThat(TimmNames.mobileNetV2Key("blocks.1.1.conv_dw.weight")).isEqualTo("features.3.conv.1.0.weight");
        assertThat(TimmNames.mobileNetV2Key("blocks.3.3.conv_pwl.weight")).isEqualTo("features.10.conv.2.weight");
        assertThat(TimmNames.mobileNetV2Key("blocks.6.0.bn3.running_mean")).isEqualTo("features.17.conv.3.running_mean");
        assertThat(TimmNames.mobileNetV2Key("conv_head.weight")).isEqualTo("features.18.0.weight");
        assertThat(TimmNames.mobileNetV2Key("bn2.weight")).isEqualTo("features.18.1.weight");
        assertThat(TimmNames.mobileNetV2Key("classifier.bias")).isEqualTo("classifier.1.bias");
        assertThat(TimmNames.mobileNetV2Key("blocks.6.1.conv_pw.weight")).isNull();
        assertThat(TimmNames.mobileNetV2Key("blocks.1.0.se.conv_reduce.weight")).isNull();

        // the image of the map is exactly the model's key set
        Map<String, Tensor> own = Models.mobilenetV2(1000).stateDict();
        Map<String, Tensor> timm = new LinkedHashMap<>();
        for (int s = 0, f = 1; s < 7; s++) {
            int blocks = new int[] {1, 2, 3, 4, 3, 3, 1}[s];
            for (int b = 0; b < blocks; b++, f++) {
                String[] layers = s == 0 ? new String[] {"conv_dw", "bn1", "conv_pw", "bn2"} : new String[] {"conv_pw", "bn1", "conv_dw", "bn2", "conv_pwl", "bn3"};
                for (String l : layers)
                    for (String param : l.startsWith("conv") ? new String[] {"weight"} : new String[] {"weight", "bias", "running_mean", "running_var"})
                        timm.put("blocks." + s + "." + b + "." + l + "." + param, null);
            }
        }
        for (String k : new String[] {"conv_stem.weight", "conv_head.weight", "classifier.weight", "classifier.bias"}) timm.put(k, null);
        for (String bn : new String[] {"bn1", "bn2"})
            for (String param : new String[] {"weight", "bias", "running_mean", "running_var"}) timm.put(bn + "." + param, null);
        Map<String, Tensor> filled = new LinkedHashMap<>();
        timm.keySet().forEach(k -> filled.put(k, Tensor.of(new float[] {0}, 1)));
        assertThat(TimmNames.toTorchvision(FILE, filled).keySet()).containsExactlyInAnyOrderElementsOf(own.keySet());
    }

    @Test
    void torchvisionAndResNetKeysPassThrough() {
        Map<String, Tensor> sd = Models.resnet18(1000).stateDict();
        assertThat(TimmNames.toTorchvision(FILE, sd)).isSameAs(sd);
    }

    @Test
    void unknownTimmLayoutListsUnexpectedKeys() {
        Map<String, Tensor> sd = new LinkedHashMap<>();
        sd.put("conv_stem.weight", Tensor.of(new float[] {0}, 1));
        sd.put("blocks.1.0.se.conv_reduce.weight", Tensor.of(new float[] {0}, 1));
        sd.put("blocks.7.0.conv_pw.weight", Tensor.of(new float[] {0}, 1));
        assertThatThrownBy(() -> TimmNames.toTorchvision(FILE, sd)).isInstanceOf(ImportException.class)
                .hasMessage("timm.pth: unknown timm layout (not mobilenetv2_100): 2 keys have no torchvision counterpart, e.g. "
                        + "[blocks.1.0.se.conv_reduce.weight, blocks.7.0.conv_pw.weight]");
    }
}
