package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.zoo.TestFiles.Pickle;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Scalar and container opcodes of the restricted unpickler. */
class UnpicklerTest {
    private static Object load(byte[] b) {
        return Unpickler.load(Path.of("t.pth"), b);
    }

    @Test
    void scalars() {
        byte[] binfloat = new Pickle().op('G').raw(new byte[] {0x3f, (byte) 0xb9, (byte) 0x99, (byte) 0x99, (byte) 0x99, (byte) 0x99, (byte) 0x99, (byte) 0x9a}).op('.').bytes();
        assertThat(load(binfloat)).isEqualTo(0.1);
        assertThat(load(new Pickle().integer(-5).op('.').bytes())).isEqualTo(-5L);
        assertThat(load(new Pickle().op('M').op(0x34).op(0x12).op('.').bytes())).isEqualTo(0x1234L);
        assertThat(load(new Pickle().integer(1L << 40).op('.').bytes())).isEqualTo(1L << 40);
        assertThat(load(new Pickle().op(0x8a).op(9).raw(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 1}).op('.').bytes())).isEqualTo(BigInteger.ONE.shiftLeft(64));
        assertThat(load(new Pickle().op(0x8a).op(1).op(0xff).op('.').bytes())).isEqualTo(-1L);
        assertThat(load(new Pickle().op(0x8c).op(3).raw("hé".getBytes(java.nio.charset.StandardCharsets.UTF_8)).op('.').bytes())).isEqualTo("hé");
        assertThat(load(new Pickle().op(0x88).op('.').bytes())).isEqualTo(true);
        assertThat(load(new Pickle().op('N').op('.').bytes())).isSameAs(Unpickler.NONE);
    }

    @Test
    void containersAndMemo() {
        // {'a': [1, 2, 1], 'b': (None,)} with the list's element memoized and fetched back
        byte[] b = new Pickle().op('}').op(0x94).op('(').str("a").op(']').op('(').integer(1).op(0x94).integer(2).op('h').op(1).op('e')
                .str("b").op('N').op(0x85).op('u').op('.').bytes();
        Object o = load(b);
        assertThat(o).isInstanceOf(Map.class);
        Map<?, ?> m = (Map<?, ?>) o;
        assertThat(m.get("a")).isEqualTo(List.of(1L, 2L, 1L));
        assertThat(m.get("b")).isEqualTo(new Unpickler.Tuple(List.of(Unpickler.NONE)));
    }
}
