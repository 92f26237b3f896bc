package dev.graft.zoo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.io.Npy;
import dev.graft.tensor.Tensor;
import dev.graft.zoo.TestFiles.Pickle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The PyTorch zip checkpoint reader: views, dtypes, wrapping, and refusal of hostile or malformed files. */
class PthFileTest {
    @TempDir
    Path dir;

    private static AbstractThrowableAssert<?, ?> refused(Path file) {
        long t0 = System.nanoTime();
        var a = assertThatThrownBy(() -> {
            PthFile f = PthFile.read(file);
            f.stateDict();
        });
        assertThat((System.nanoTime() - t0) / 1e9).as("seconds to refuse " + file.getFileName()).isLessThan(2);
        return a.isInstanceOf(ImportException.class).hasMessageStartingWith(file.getFileName() + ": ").hasMessageNotContaining("\n");
    }

    private Path zip(String name, byte[] pickle, Map<String, byte[]> storages) {
        return TestFiles.write(dir, name, TestFiles.torchZip(pickle, storages, "little"));
    }

    @Test
    void sharedStoragesOffsetsStridesAndDtypesMatchPyTorch() {
        PthFile f = PthFile.read(ZooFixtures.path("views.pth"));
        Map<String, Tensor> sd = f.stateDict();
        Map<String, Tensor> expected = Npy.readNpz(ZooFixtures.path("views_expected.npz"));
        assertThat(sd.keySet()).containsExactlyElementsOf(expected.keySet());
        for (String k : expected.keySet()) {
            assertThat(sd.get(k).shape()).as(k).containsExactly(expected.get(k).shape());
            assertThat(sd.get(k).toFloatArray()).as(k).isEqualTo(expected.get(k).toFloatArray());
        }
        assertThat(f.tensors()).extracting(TensorInfo::name).contains("counter.num_batches_tracked", "ints");
        assertThat(f.tensors()).filteredOn(t -> t.name().equals("half")).extracting(TensorInfo::dtype).containsExactly("F16");
        assertThat(f.tensors()).filteredOn(t -> t.name().equals("bfloat16")).extracting(TensorInfo::dtype).containsExactly("BF16");
        assertThat(f.tensors()).filteredOn(t -> t.name().equals("ints")).extracting(TensorInfo::dtype).containsExactly("I32");
        assertThat(f.describe()).contains("bare state_dict").contains("transposed F32 [5, 6]");
        assertThat(f.format()).isEqualTo("pytorch");
    }

    @Test
    void maliciousPicklesAreRefusedWithoutSideEffects() {
        Path sentinel = Path.of(ZooFixtures.manifest().path("sentinel").asText());
        refused(ZooFixtures.path("malicious_os_system.pth")).hasMessageContaining("refuses to load global os.system");
        refused(ZooFixtures.path("malicious_reduce.pth")).hasMessageContaining("refuses to load global posix.system");
        refused(ZooFixtures.path("malicious_eval.pth")).hasMessageContaining("refuses to load global builtins.eval");
        assertThat(sentinel).doesNotExist();
    }

    @Test
    void otherGlobalsAndOpcodesAreRefused() {
        for (String[] g : new String[][] {{"subprocess", "Popen"}, {"torch.storage", "_load_from_bytes"}, {"builtins", "getattr"},
                {"torchvision.models.resnet", "ResNet"}, {"torch", "load"}}) {
            byte[] p = new Pickle().global(g[0], g[1]).op(')').op('R').op('.').bytes();
            refused(zip("g.pth", p, Map.of())).hasMessageContaining("refuses to load global " + g[0] + "." + g[1]);
        }
        // STACK_GLOBAL path too
        byte[] p = new Pickle().str("os").str("system").op(0x93).op('.').bytes();
        refused(zip("sg.pth", p, Map.of())).hasMessageContaining("refuses to load global os.system");
        // INST opcode
        refused(zip("inst.pth", "(ios\nsystem\n.".getBytes(), Map.of())).hasMessageContaining("INST");
    }

    @Test
    void handMadeCheckpointLoads() {
        byte[] p = Pickle.stateDict("w", "FloatStorage", "0", 6, 1, new long[] {2, 2}, new long[] {1, 2});
        PthFile f = PthFile.read(zip("ok.pth", p, Map.of("0", TestFiles.floats(0, 1, 2, 3, 4, 5))));
        // offset 1, shape (2,2), stride (1,2): [[1,3],[2,4]]
        assertThat(f.stateDict().get("w").toFloatArray()).containsExactly(1, 3, 2, 4);
    }

    @Test
    void malformedTensorsAreRefusedNamingTheTensor() {
        byte[] six = TestFiles.floats(0, 1, 2, 3, 4, 5);
        refused(zip("past.pth", Pickle.stateDict("w", "FloatStorage", "0", 6, 3, new long[] {2, 2}, new long[] {2, 1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("reaches element 6 of a storage of 6");
        refused(zip("size.pth", Pickle.stateDict("w", "FloatStorage", "0", 7, 0, new long[] {6}, new long[] {1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("has 24 bytes, but F32[7] needs 28");
        refused(zip("neg.pth", Pickle.stateDict("w", "FloatStorage", "0", 6, 0, new long[] {-2, 3}, new long[] {3, 1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("negative");
        refused(zip("ovf.pth", Pickle.stateDict("w", "FloatStorage", "0", 6, 0, new long[] {1L << 40, 1L << 40}, new long[] {1, 1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'").hasMessageContaining("overflows");
        refused(zip("huge.pth", Pickle.stateDict("w", "FloatStorage", "0", 1L << 61, 0, new long[] {6}, new long[] {1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'");
        refused(zip("missing.pth", Pickle.stateDict("w", "FloatStorage", "9", 6, 0, new long[] {6}, new long[] {1}), Map.of("0", six)))
                .hasMessageContaining("storage data/9 is missing");
        refused(zip("negoff.pth", Pickle.stateDict("w", "FloatStorage", "0", 6, -1, new long[] {6}, new long[] {1}), Map.of("0", six)))
                .hasMessageContaining("negative storage offset");
        refused(zip("stride.pth", Pickle.stateDict("w", "FloatStorage", "0", 6, 0, new long[] {2, 3}, new long[] {Long.MAX_VALUE / 2, 1}), Map.of("0", six)))
                .hasMessageContaining("tensor 'w'");
        refused(zip("dtype.pth", Pickle.stateDict("w", "ComplexFloatStorage", "0", 6, 0, new long[] {6}, new long[] {1}), Map.of("0", six)))
                .hasMessageContaining("refuses to load global torch.ComplexFloatStorage");
    }

    @Test
    void malformedPicklesAreRefused() {
        refused(zip("list.pth", new Pickle().op(']').op('.').bytes(), Map.of())).hasMessageContaining("is a list, not a dict");
        refused(zip("nostate.pth", new Pickle().op('}').str("epoch").integer(3).op('s').op('.').bytes(), Map.of()))
                .hasMessageContaining("no state dict found").hasMessageContaining("[epoch]");
        refused(zip("memo.pth", new Pickle().op('h').op(7).op('.').bytes(), Map.of())).hasMessageContaining("memo entry 7");
        refused(zip("under.pth", new Pickle().op('s').op('.').bytes(), Map.of())).hasMessageContaining("underflow");
        refused(zip("nostop.pth", new Pickle().op('}').bytes(), Map.of())).hasMessageContaining("no STOP");
        refused(zip("bigstr.pth", new Pickle().op('X').le32(-1).op('.').bytes(), Map.of())).hasMessageContaining("truncated pickle");
        refused(zip("proto.pth", new byte[] {(byte) 0x80, 9, '}', '.'}, Map.of())).hasMessageContaining("protocol 9");
        refused(zip("opcode.pth", new Pickle().op(0xfe).bytes(), Map.of())).hasMessageContaining("opcode 0xfe");
        byte[] marks = new byte[200_000];
        java.util.Arrays.fill(marks, (byte) '(');
        refused(zip("marks.pth", new Pickle().raw(marks).bytes(), Map.of())).hasMessageContaining("marks");
        byte[] dups = new byte[(1 << 20) + 10];
        java.util.Arrays.fill(dups, (byte) '2');
        refused(zip("dups.pth", new Pickle().op('N').raw(dups).bytes(), Map.of())).hasMessageContaining("stack deeper");
        // a dict key that is a container (hashing it could recurse forever)
        refused(zip("key.pth", new Pickle().op('}').op(']').op('N').op('s').op('.').bytes(), Map.of())).hasMessageContaining("dict key");
        // a list containing itself, then used as a key of the state dict: still refused, no stack overflow
        refused(zip("cycle.pth", new Pickle().op(']').op('q').op(0).op('h').op(0).op('a').op('.').bytes(), Map.of())).hasMessageContaining("list");
    }

    @Test
    void notAZipCheckpoint() {
        refused(TestFiles.write(dir, "empty.pth", new byte[0])).hasMessageContaining("empty file");
        byte[] random = new byte[4096];
        new Random(1).nextBytes(random);
        random[0] = 0x13;
        refused(TestFiles.write(dir, "random.pth", random)).hasMessageContaining("not a PyTorch zip checkpoint");
        refused(TestFiles.write(dir, "legacy.pth", new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc}))
                .hasMessageContaining("legacy").hasMessageContaining("re-save it with torch.save");
        byte[] pk = new byte[100];
        pk[0] = 'P';
        pk[1] = 'K';
        pk[2] = 3;
        pk[3] = 4;
        refused(TestFiles.write(dir, "pk.pth", pk)).hasMessageContaining("zip");
        refused(TestFiles.write(dir, "nopkl.pth", TestFiles.zip(Map.of("a/b", new byte[3])))).hasMessageContaining("no <archive>/data.pkl");
        refused(TestFiles.write(dir, "big.pth", TestFiles.torchZip(new Pickle().op('}').op('.').bytes(), Map.of(), "big")))
                .hasMessageContaining("byte order 'big'");
    }

    @Test
    void truncatedRealCheckpoint() throws Exception {
        byte[] all = Files.readAllBytes(ZooFixtures.path("views.pth"));
        for (int cut : new int[] {10, 100, all.length / 2, all.length - 30}) {
            byte[] part = java.util.Arrays.copyOf(all, cut);
            refused(TestFiles.write(dir, "cut" + cut + ".pth", part));
        }
    }
}
