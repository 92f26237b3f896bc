package dev.graft.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.ops.Concat;
import java.util.List;
import org.junit.jupiter.api.Test;

class TensorTest {
    private static Tensor arange(int n, int... shape) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return Tensor.of(v, shape);
    }

    @Test
    void viewsShareStorageAndAddressTheRightElements() {
        Tensor x = arange(24, 2, 3, 4);
        Tensor p = x.permute(2, 0, 1);
        assertThat(p.shape()).containsExactly(4, 2, 3);
        assertThat(p.storage()).isSameAs(x.storage());
        assertThat(p.isContiguous()).isFalse();
        assertThat(p.get(3, 1, 2)).isEqualTo(x.get(1, 2, 3));
        Tensor s = x.slice(1, 1, 3);
        assertThat(s.shape()).containsExactly(2, 2, 4);
        assertThat(s.get(1, 0, 2)).isEqualTo(x.get(1, 1, 2));
        assertThat(s.contiguous().toFloatArray()).startsWith(4, 5, 6, 7, 8, 9, 10, 11, 16);
        assertThat(x.unsqueeze(0).shape()).containsExactly(1, 2, 3, 4);
        assertThat(x.unsqueeze(-1).shape()).containsExactly(2, 3, 4, 1);
        assertThat(x.reshape(6, -1).shape()).containsExactly(6, 4);
        assertThat(x.reshape(6, -1).storage()).isSameAs(x.storage());
        assertThat(x.flatten(1, 2).shape()).containsExactly(2, 12);
    }

    @Test
    void reshapeOfANonContiguousViewCopiesInLogicalOrder() {
        Tensor t = arange(6, 2, 3).transpose(0, 1); // [[0,3],[1,4],[2,5]]
        assertThat(t.reshape(6).toFloatArray()).containsExactly(0, 3, 1, 4, 2, 5);
    }

    @Test
    void expandBroadcastsWithZeroStrides() {
        Tensor row = arange(3, 1, 3);
        Tensor e = row.expand(4, 3);
        assertThat(e.strides()).containsExactly(0, 1);
        assertThat(e.contiguous().toFloatArray()).containsExactly(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2);
    }

    @Test
    void broadcastingArithmetic() {
        Tensor a = arange(6, 2, 3);
        Tensor b = Tensor.of(new float[] {10, 20}, 2, 1);
        assertThat(a.add(b).toFloatArray()).containsExactly(10, 11, 12, 23, 24, 25);
        assertThat(a.mul(Tensor.of(new float[] {1, 0, -1}, 3)).toFloatArray()).containsExactly(0, 0, -2, 3, 0, -5);
        assertThatThrownBy(() -> a.add(arange(4, 4))).isInstanceOf(GraftException.class).hasMessageContaining("[2, 3]").hasMessageContaining("[4]");
    }

    @Test
    void copyFromAndFillWriteThroughViews() {
        Tensor x = Tensor.zeros(2, 3);
        x.slice(1, 1, 2).fill(7);
        x.slice(0, 1, 2).copyFrom(Tensor.of(new float[] {1, 2, 3}, 3));
        assertThat(x.toFloatArray()).containsExactly(0, 7, 0, 1, 2, 3);
    }

    @Test
    void dtypeConversionRoundTrips() {
        Tensor x = Tensor.of(new float[] {1.5f, -2.25f}, 2);
        Tensor d = x.to(DType.FLOAT64);
        assertThat(d.dtype()).isEqualTo(DType.FLOAT64);
        assertThat(d.toDoubleArray()).containsExactly(1.5, -2.25);
        assertThat(d.to(DType.FLOAT32).toFloatArray()).containsExactly(1.5f, -2.25f);
    }

    @Test
    void concatJoinsAlongADimension() {
        Tensor a = arange(4, 2, 2), b = arange(2, 2, 1);
        assertThat(Concat.concat(List.of(a, b), 1).toFloatArray()).containsExactly(0, 1, 0, 2, 3, 1);
        assertThat(Concat.concat(List.of(a, a), 0).shape()).containsExactly(4, 2);
    }

    @Test
    void badShapesAreClearErrors() {
        assertThatThrownBy(() -> arange(6, 2, 3).reshape(4, 2)).isInstanceOf(GraftException.class).hasMessageContaining("[2, 3]").hasMessageContaining("[4, 2]");
        assertThatThrownBy(() -> arange(6, 2, 3).slice(1, 2, 5)).isInstanceOf(GraftException.class);
        assertThatThrownBy(() -> arange(6, 2, 3).permute(0, 0)).isInstanceOf(GraftException.class);
        assertThatThrownBy(() -> Tensor.zeros(1 << 16, 1 << 16)).isInstanceOf(GraftException.class).hasMessageContaining("2^31");
        assertThatThrownBy(() -> Device.parse("tpu")).isInstanceOf(GraftException.class).hasMessageContaining("tpu");
    }

    @Test
    void devicesParse() {
        assertThat(Device.parse("cpu")).isEqualTo(Device.CPU);
        assertThat(Device.parse("cuda:1")).isEqualTo(Device.cuda(1));
        assertThat(Device.parse("cuda").toString()).isEqualTo("cuda:0");
    }
}
