package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** {@code graft bench} prints the JSON line of the contract; no timing is asserted (benchmarks are not timed tests). */
class BenchCommandTest {
    @Test
    void jsonLineHasTheContractKeys() throws Exception {
        for (String mode : new String[] {"infer", "train"}) {
            MainTest.Result r = MainTest.run("bench", "--model", "resnet18", "--mode", mode, "--batch", "1", "--iters", "1", "--warmup", "0", "--json");
            assertThat(r.code()).as(r.err()).isZero();
            JsonNode j = new ObjectMapper().readTree(r.out().strip());
            assertThat(j.fieldNames()).toIterable().startsWith("model", "mode", "batch", "images_per_second");
            assertThat(j.path("model").asText()).isEqualTo("resnet18");
            assertThat(j.path("mode").asText()).isEqualTo(mode);
            assertThat(j.path("batch").asInt()).isEqualTo(1);
            assertThat(j.path("images_per_second").asDouble()).isPositive().isFinite();
        }
    }

    @Test
    void unknownModelIsOneLine() {
        MainTest.Result r = MainTest.run("bench", "--model", "vgg16");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("graft: unknown model 'vgg16'").doesNotContain("\n");
    }
}
