package dev.graft.zoo;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A restricted unpickler for the {@code data.pkl} of a {@code torch.save} zip archive (pickle protocols
 * 0–5, the opcodes {@code torch.save} and {@code collections.OrderedDict} use). It builds plain data:
 * {@link Map} for dicts, {@link List} for lists, {@link Tuple}, {@link String}, {@link Long} or
 * {@link BigInteger}, {@link Double}, {@link Boolean}, {@code byte[]}, {@link #NONE}, and
 * {@link StorageRef}/{@link TensorRef} for tensors. It executes nothing: the only globals it resolves
 * are an allowlist of tensor rebuilders, storage types and {@code collections.OrderedDict}, which it
 * interprets itself; any other global (such as {@code os.system}) is refused before it could be called.
 * Memo size, stack depth and string lengths are bounded.
 */
final class Unpickler {
    /** Python's None. */
    static final Object NONE = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };

    /** A Python tuple. */
    record Tuple(List<Object> items) {}

    /** A resolved allowed global. */
    record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    /** A storage named by a persistent id: {@code ('storage', torch.FloatStorage, key, location, numel)}. */
    record StorageRef(String key, String dtype, long numel, String location) {}

    /** A tensor view of a storage. */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

    static final int MAX_MEMO = 1 << 20;
    static final int MAX_STACK = 1 << 20;
    static final int MAX_MARKS = 1 << 16;

    private static final Map<String, String> STORAGES = Map.ofEntries(
            Map.entry("FloatStorage", "F32"), Map.entry("HalfStorage", "F16"), Map.entry("BFloat16Storage", "BF16"),
            Map.entry("DoubleStorage", "F64"), Map.entry("LongStorage", "I64"), Map.entry("IntStorage", "I32"),
            Map.entry("ShortStorage", "I16"), Map.entry("CharStorage", "I8"), Map.entry("ByteStorage", "U8"),
            Map.entry("BoolStorage", "BOOL"), Map.entry("UntypedStorage", "U8"));

    private static final Set<String> FUNCTIONS = Set.of(
            "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
            "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state");

    private final Path file;
    private final byte[] data;
    private int pos;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final int[] marks = new int[MAX_MARKS];
    private int markCount;
    private final HashMap<Long, Object> memo = new HashMap<>();
    private final Map<String, StorageRef> storages = new LinkedHashMap<>();

    private Unpickler(Path file, byte[] data) {
        this.file = file;
        this.data = data;
    }

    /** Unpickles {@code data}; every failure is an {@link ImportException} naming {@code file}. */
    static Object load(Path file, byte[] data) {
        return new Unpickler(file, data).run();
    }

    private ImportException fail(String msg) {
        return new ImportException(file, "data.pkl at byte " + pos + ": " + msg);
    }

    private Object run() {
        while (true) {
            if (pos >= data.length) throw fail("truncated pickle (no STOP opcode)");
            int op = data[pos++] & 0xff;
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = u8();
                    if (v > 5) throw fail("unsupported pickle protocol " + v);
                }
                case 0x95 -> need(8); // FRAME: length is advisory
                case 0x2e -> { // STOP
                    if (stack.size() != 1 || markCount != 0) throw fail("malformed pickle: STOP with " + stack.size() + " items on the stack");
                    return stack.getFirst();
                }
                case 0x28 -> { // MARK
                    if (markCount == MAX_MARKS) throw fail("too many nested marks");
                    marks[markCount++] = stack.size();
                }
                case 0x30 -> pop(); // POP
                case 0x31 -> popMark(); // POP_MARK
                case 0x32 -> push(peek()); // DUP
                case 0x4e -> push(NONE);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 0x4a -> push((long) i32()); // BININT
                case 0x4b -> push((long) u8()); // BININT1
                case 0x4d -> push((long) (u8() | (u8() << 8))); // BININT2
                case 0x8a -> push(longN(u8())); // LONG1
                case 0x8b -> { // LONG4
                    int n = i32();
                    if (n < 0 || n > 4096) throw fail("LONG4 of " + n + " bytes");
                    push(longN(n));
                }
                case 0x49 -> push(textInt(line())); // INT (protocol 0)
                case 0x4c -> push(textInt(stripL(line()))); // LONG (protocol 0)
                case 0x47 -> { // BINFLOAT, big-endian
                    need(8);
                    long bits = 0;
                    for (int i = 8; i >= 1; i--) bits = (bits << 8) | (data[pos - i] & 0xff);
                    push(Double.longBitsToDouble(bits));
                }
                case 0x58 -> push(utf8(len32())); // BINUNICODE
                case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(len64())); // BINUNICODE8
                case 0x42 -> push(bytes(len32())); // BINBYTES
                case 0x43 -> push(bytes(u8())); // SHORT_BINBYTES
                case 0x8e -> push(bytes(len64())); // BINBYTES8
                case 0x55 -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1)); // SHORT_BINSTRING
                case 0x54 -> push(new String(bytes(len32()), StandardCharsets.ISO_8859_1)); // BINSTRING
                case 0x7d -> push(new LinkedHashMap<>()); // EMPTY_DICT
                case 0x5d -> push(new ArrayList<>()); // EMPTY_LIST
                case 0x29 -> push(new Tuple(List.of())); // EMPTY_TUPLE
                case 0x74 -> push(new Tuple(popMark())); // TUPLE
                case 0x85 -> push(tupleOf(1));
                case 0x86 -> push(tupleOf(2));
                case 0x87 -> push(tupleOf(3));
                case 0x6c -> push(new ArrayList<>(popMark())); // LIST
                case 0x64 -> { // DICT
                    List<Object> items = popMark();
                    Map<Object, Object> d = new LinkedHashMap<>();
                    putAll(d, items);
                    push(d);
                }
                case 0x61 -> { // APPEND
                    Object v = pop();
                    list(peek()).add(v);
                }
                case 0x65 -> { // APPENDS
                    List<Object> items = popMark();
                    list(peek()).addAll(items);
                }
                case 0x73 -> { // SETITEM
                    Object v = pop(), k = pop();
                    dict(peek()).put(key(k), v);
                }
                case 0x75 -> { // SETITEMS
                    List<Object> items = popMark();
                    putAll(dict(peek()), items);
                }
                case 0x71 -> memoPut(u8()); // BINPUT
                case 0x72 -> memoPut(u32()); // LONG_BINPUT
                case 0x94 -> memoPut(memo.size()); // MEMOIZE
                case 0x70 -> memoPut(textLong(line())); // PUT
                case 0x68 -> push(memoGet(u8())); // BINGET
                case 0x6a -> push(memoGet(u32())); // LONG_BINGET
                case 0x67 -> push(memoGet(textLong(line()))); // GET
                case 0x63 -> { // GLOBAL
                    String module = line(), name = line();
                    push(global(module, name));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) throw fail("STACK_GLOBAL operands are not strings");
                    push(global(m, n));
                }
                case 0x52 -> { // REDUCE
                    Object args = pop(), fn = pop();
                    push(call(fn, args));
                }
                case 0x81 -> { // NEWOBJ
                    Object args = pop(), cls = pop();
                    push(call(cls, args));
                }
                case 0x92 -> { // NEWOBJ_EX
                    Object kwargs = pop(), args = pop(), cls = pop();
                    if (!(kwargs instanceof Map<?, ?> kw) || !kw.isEmpty()) throw fail("NEWOBJ_EX with keyword arguments");
                    push(call(cls, args));
                }
                case 0x62 -> { // BUILD
                    pop(); // the state: attributes of an OrderedDict (_metadata) or of a tensor; not needed
                    Object target = peek();
                    if (!(target instanceof Map) && !(target instanceof TensorRef)) throw fail("BUILD on a " + typeName(target));
                }
                case 0x51 -> push(persistentLoad(pop())); // BINPERSID
                case 0x69, 0x6f -> throw fail("refuses the INST/OBJ opcodes (they instantiate arbitrary classes)");
                case 0x82, 0x83, 0x84 -> throw fail("refuses the EXT opcodes (copyreg extension registry)");
                case 0x50 -> throw fail("refuses text persistent ids (PERSID)");
                default -> throw fail("unsupported pickle opcode 0x" + Integer.toHexString(op));
            }
        }
    }

    // ------------------------------------------------------------------ globals and calls

    private Object global(String module, String name) {
        String q = module + "." + name;
        if (module.equals("torch") && STORAGES.containsKey(name)) return new Global(module, name);
        if (FUNCTIONS.contains(q)) return new Global(module, name);
        throw new ImportException(file, "refuses to load global " + SafetensorsFile.oneLine(q)
                + " (only tensor rebuilders, storage types and collections.OrderedDict are allowed; nothing was executed)");
    }

    private Object call(Object fn, Object argsObj) {
        if (!(fn instanceof Global g)) throw fail("call of a " + typeName(fn) + ", not an allowed global");
        if (!(argsObj instanceof Tuple(List<Object> args))) throw fail("arguments of " + g.qualified() + " are not a tuple");
        switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                Map<Object, Object> d = new LinkedHashMap<>();
                if (args.isEmpty()) return d;
                if (args.size() == 1 && args.getFirst() instanceof List<?> pairs) {
                    for (Object p : pairs) {
                        if (!(p instanceof Tuple(List<Object> kv)) || kv.size() != 2) throw fail("OrderedDict item is not a pair");
                        d.put(key(kv.get(0)), kv.get(1));
                    }
                    return d;
                }
                throw fail("unsupported OrderedDict arguments");
            }
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> {
                if (args.size() < 4) throw fail(g.name() + " with " + args.size() + " arguments");
                if (!(args.get(0) instanceof StorageRef s)) throw fail(g.name() + " of a " + typeName(args.get(0)) + ", not a storage");
                long offset = asLong(args.get(1), "storage offset");
                long[] size = longs(args.get(2), "size");
                long[] stride = longs(args.get(3), "stride");
                if (size.length != stride.length) throw fail("tensor size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride) + " differ in rank");
                return new TensorRef(s, offset, size, stride);
            }
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                if (args.isEmpty() || !(args.getFirst() instanceof TensorRef t)) throw fail(g.name() + " of a non-tensor");
                return t;
            }
            default -> throw fail("global " + g.qualified() + " cannot be called");
        }
    }

    private Object persistentLoad(Object pid) {
        if (!(pid instanceof Tuple(List<Object> t)) || t.size() != 5 || !"storage".equals(t.get(0)))
            throw fail("unsupported persistent id (expected ('storage', type, key, location, numel))");
        if (!(t.get(1) instanceof Global g) || !g.module().equals("torch") || !STORAGES.containsKey(g.name()))
            throw fail("persistent id with storage type " + typeName(t.get(1)));
        if (!(t.get(2) instanceof String key)) throw fail("persistent id with a non-string key");
        String location = t.get(3) instanceof String l ? l : "?";
        long numel = asLong(t.get(4), "storage size");
        if (numel < 0) throw fail("storage " + key + " has negative size " + numel);
        String dtype = STORAGES.get(g.name());
        StorageRef prev = storages.get(key);
        if (prev != null) {
            if (!prev.dtype().equals(dtype) || prev.numel() != numel)
                throw fail("storage " + key + " is referenced as " + prev.dtype() + "[" + prev.numel() + "] and as " + dtype + "[" + numel + "]");
            return prev;
        }
        StorageRef s = new StorageRef(key, dtype, numel, location);
        storages.put(key, s);
        return s;
    }

    // ------------------------------------------------------------------ stack and memo

    private void push(Object o) {
        if (stack.size() >= MAX_STACK) throw fail("pickle stack deeper than " + MAX_STACK);
        stack.add(o);
    }

    private Object pop() {
        if (stack.isEmpty() || (markCount > 0 && stack.size() <= marks[markCount - 1])) throw fail("pickle stack underflow");
        return stack.removeLast();
    }

    private Object peek() {
        if (stack.isEmpty() || (markCount > 0 && stack.size() <= marks[markCount - 1])) throw fail("pickle stack underflow");
        return stack.getLast();
    }

    private List<Object> popMark() {
        if (markCount == 0) throw fail("no MARK on the stack");
        int m = marks[--markCount];
        List<Object> sub = stack.subList(m, stack.size());
        List<Object> items = new ArrayList<>(sub);
        sub.clear();
        return items;
    }

    private Tuple tupleOf(int n) {
        Object[] items = new Object[n];
        for (int i = n - 1; i >= 0; i--) items[i] = pop();
        return new Tuple(Arrays.asList(items));
    }

    private void memoPut(long index) {
        if (index < 0) throw fail("negative memo index");
        if (memo.size() >= MAX_MEMO && !memo.containsKey(index)) throw fail("pickle memo larger than " + MAX_MEMO + " entries");
        memo.put(index, peek());
    }

    private Object memoGet(long index) {
        Object o = memo.get(index);
        if (o == null) throw fail("memo entry " + index + " is not defined");
        return o;
    }

    private void putAll(Map<Object, Object> d, List<Object> items) {
        if (items.size() % 2 != 0) throw fail("odd number of items for a dict");
        for (int i = 0; i < items.size(); i += 2) d.put(key(items.get(i)), items.get(i + 1));
    }

    /** Only immutable scalars are allowed as dict keys (hashing a container could recurse forever). */
    private Object key(Object k) {
        if (k instanceof String || k instanceof Long || k instanceof BigInteger || k instanceof Double || k instanceof Boolean || k == NONE) return k;
        throw fail("unsupported dict key of type " + typeName(k));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o) {
        if (o instanceof LinkedHashMap<?, ?> m) return (Map<Object, Object>) m;
        throw fail("SETITEM on a " + typeName(o));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o) {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw fail("APPEND on a " + typeName(o));
    }

    private long asLong(Object o, String what) {
        if (o instanceof Long l) return l;
        throw fail(what + " is a " + typeName(o) + ", not an int");
    }

    private long[] longs(Object o, String what) {
        if (!(o instanceof Tuple(List<Object> items))) throw fail("tensor " + what + " is a " + typeName(o) + ", not a tuple");
        if (items.size() > 64) throw fail("tensor " + what + " has rank " + items.size());
        long[] out = new long[items.size()];
        for (int i = 0; i < out.length; i++) out[i] = asLong(items.get(i), "tensor " + what + " element");
        return out;
    }

    static String typeName(Object o) {
        if (o == null || o == NONE) return "None";
        if (o instanceof Map) return "dict";
        if (o instanceof List) return "list";
        if (o instanceof Tuple) return "tuple";
        if (o instanceof String) return "str";
        if (o instanceof Long || o instanceof BigInteger) return "int";
        if (o instanceof Double) return "float";
        if (o instanceof Boolean) return "bool";
        if (o instanceof byte[]) return "bytes";
        if (o instanceof Global g) return "global " + g.qualified();
        if (o instanceof StorageRef) return "storage";
        if (o instanceof TensorRef) return "tensor";
        return o.getClass().getSimpleName();
    }

    // ------------------------------------------------------------------ reading

    private void need(long n) {
        if (n < 0 || n > data.length - pos) throw fail("truncated pickle (needs " + n + " more bytes, " + (data.length - pos) + " left)");
        pos += (int) n;
    }

    private int u8() {
        need(1);
        return data[pos - 1] & 0xff;
    }

    private int i32() {
        need(4);
        return (data[pos - 4] & 0xff) | (data[pos - 3] & 0xff) << 8 | (data[pos - 2] & 0xff) << 16 | (data[pos - 1] & 0xff) << 24;
    }

    private long u32() {
        return i32() & 0xffffffffL;
    }

    private long len32() {
        return u32();
    }

    private long len64() {
        need(8);
        long v = 0;
        for (int i = 1; i <= 8; i++) v = (v << 8) | (data[pos - i] & 0xff);
        if (v < 0) throw fail("negative length");
        return v;
    }

    private byte[] bytes(long n) {
        int start = pos;
        need(n);
        return Arrays.copyOfRange(data, start, pos);
    }

    private String utf8(long n) {
        int start = pos;
        need(n);
        return new String(data, start, (int) n, StandardCharsets.UTF_8);
    }

    private Object longN(int n) {
        int start = pos;
        need(n);
        if (n == 0) return 0L;
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) be[i] = data[start + n - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private String line() {
        int start = pos;
        int limit = Math.min(data.length, pos + 1024);
        for (int i = pos; i < limit; i++) {
            if (data[i] == '\n') {
                pos = i + 1;
                return new String(data, start, i - start, StandardCharsets.UTF_8);
            }
        }
        throw fail("unterminated or overlong text argument");
    }

    private static String stripL(String s) {
        return s.endsWith("L") ? s.substring(0, s.length() - 1) : s;
    }

    private Object textInt(String s) {
        if (s.equals("00")) return Boolean.FALSE;
        if (s.equals("01")) return Boolean.TRUE;
        try {
            BigInteger v = new BigInteger(s.strip());
            return v.bitLength() < 64 ? (Object) v.longValue() : v;
        } catch (NumberFormatException e) {
            throw fail("bad integer literal");
        }
    }

    private long textLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            throw fail("bad memo index");
        }
    }
}
