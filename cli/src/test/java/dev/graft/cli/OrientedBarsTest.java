package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class OrientedBarsTest {
    @Test
    void sameSeedSameImages() {
        OrientedBars a = OrientedBars.generate(16, 16, 5), b = OrientedBars.generate(16, 16, 5);
        assertThat(a.images).isEqualTo(b.images);
        assertThat(a.labels).isEqualTo(b.labels);
        assertThat(OrientedBars.generate(16, 16, 6).images).isNotEqualTo(a.images);
    }

    @Test
    void everyClassAppearsAndBatchesHaveTheRightShape() {
        OrientedBars d = OrientedBars.generate(400, 12, 1);
        int[] counts = new int[OrientedBars.CLASSES];
        for (int l : d.labels) counts[l]++;
        for (int c : counts) assertThat(c).isGreaterThan(20);
        int[] order = {3, 1, 2};
        assertThat(d.images(order, 0, 3).shape()).containsExactly(3, 3, 12, 12);
        assertThat(d.labels(order, 1, 3, null)).containsExactly(d.labels[1], d.labels[2]);
    }
}
