package dev.graft.zoo.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class KnownWeightsTest {
    @Test
    void entriesAreWellFormedAndUnique() {
        Set<String> ids = new HashSet<>(), urls = new HashSet<>();
        for (KnownWeights w : KnownWeights.all()) {
            assertThat(ids.add(w.id())).as("duplicate id " + w.id()).isTrue();
            assertThat(urls.add(w.url())).as("duplicate url " + w.url()).isTrue();
            assertThat(w.url()).startsWith("https://");
            assertThat(w.sha256()).matches("[0-9a-f]{8,64}");
            if (w.source().equals("torchvision")) {
                // torchvision file names embed the first hex digits of the SHA-256
                String name = w.fileName();
                String prefix = name.substring(name.lastIndexOf('-') + 1, name.lastIndexOf('.'));
                assertThat(w.sha256()).startsWith(prefix);
                assertThat(w.format()).isEqualTo(KnownWeights.Format.PYTORCH);
                assertThat(dev.graft.models.Models.NAMES).contains(w.architecture());
            } else {
                assertThat(w.fullHash()).as(w.id() + " has its full digest").isTrue();
                assertThat(w.size()).isPositive();
            }
        }
        assertThat(KnownWeights.ids()).contains("torchvision:resnet18", "torchvision:resnet50", "torchvision:mobilenet_v2",
                "coral:mobilenet_v2_1.0_224_quant");
        assertThat(KnownWeights.get("TorchVision:ResNet18").fileName()).isEqualTo("resnet18-f37072fd.pth");
        assertThat(KnownWeights.get("torchvision:resnet18").fullHash()).isTrue();
        assertThatThrownBy(() -> KnownWeights.get("keras:vgg16")).isInstanceOf(GraftException.class).hasMessageContaining("known: torchvision:resnet18");
        assertThat(KnownWeights.looksLikeId("coral:mobilenet_v2_1.0_224_quant")).isTrue();
        assertThat(KnownWeights.looksLikeId("weights/resnet18.pth")).isFalse();
        assertThatThrownBy(() -> new KnownWeights("x:y", "https://h/f.pth", "XYZ", -1, "a", KnownWeights.Format.PYTORCH, 1, ""))
                .isInstanceOf(GraftException.class).hasMessageContaining("SHA-256");
    }

    /** The Coral and tflite-support digests match the copies in the shared data folder (skipped without it, failed on CI). */
    @Test
    void tfliteDigestsMatchTheSharedCopies() throws Exception {
        String p = System.getProperty("graft.data");
        if (p == null || p.isBlank()) p = System.getenv("GRAFT_DATA");
        Path zoo = (p == null || p.isBlank() ? Path.of("..", "..", "shared", "data") : Path.of(p)).resolve("zoo");
        if (!Files.isDirectory(zoo)) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError("no shared data at " + zoo);
            Assumptions.abort("no shared data at " + zoo);
        }
        int checked = 0;
        for (KnownWeights w : KnownWeights.all()) {
            if (w.format() != KnownWeights.Format.TFLITE) continue;
            Path f = w.source().equals("tflite") ? zoo.resolve("tflite_support").resolve(w.fileName()) : zoo.resolve(w.fileName());
            assertThat(f).as(w.id()).isRegularFile();
            assertThat(Files.size(f)).as(w.id() + " size").isEqualTo(w.size());
            assertThat(sha256(f)).as(w.id() + " SHA-256").isEqualTo(w.sha256());
            checked++;
        }
        assertThat(checked).isEqualTo(8);
    }

    private static String sha256(Path f) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = new DigestInputStream(Files.newInputStream(f), md)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
