// The runtime of the CPU emulation (see graft_emu.h): kernel registry, block scheduling over host
// threads, fibers for the threads of a block, barriers, warp exchanges and the tensor-core mma.
// Exported C API (used by dev.graft.backend.cuda.EmulatedGpu through java.lang.foreign):
//   int  graft_emu_launch(const char* kernel, const unsigned grid[3], const unsigned block[3],
//                         unsigned dynamicSharedBytes, void** args, char* error, int errorCapacity)
//        0 on success; otherwise 1 and a one-line message in error.
//   int  graft_emu_has(const char* kernel)            1 if the kernel is compiled in
//   int  graft_emu_kernels(char* out, int capacity)   space-separated names; returns the length needed
//   void graft_emu_set_threads(int n)                 host threads per launch (default: cores, max 8)
#include "graft_emu.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Fiber switch. On x86-64 a hand-written one: it saves the callee-saved registers, MXCSR and the x87
// control word on the current stack, stores the stack pointer in *save and continues on load; ~5 ns
// where glibc's swapcontext also makes a sigprocmask system call (~1 µs), which made barrier-heavy
// kernels 100x slower to emulate. Elsewhere, ucontext.
#if defined(__x86_64__)
extern "C" void graft_emu_switch(void** save, void* load);
asm(R"(
    .text
    .globl graft_emu_switch
    .hidden graft_emu_switch
    .type graft_emu_switch, @function
graft_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size graft_emu_switch, .-graft_emu_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");
#endif

namespace graft_emu {

thread_local ThreadState* current = nullptr;

namespace {

struct Kernel {
    void* fn;
    Invoker invoke;
    bool sync;
};

std::map<std::string, Kernel>& registry() {
    static std::map<std::string, Kernel> r;
    return r;
}

struct LaunchError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr size_t kStack = 256 * 1024;

enum class State { Ready, AtBarrier, Done };

struct Fiber {
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t context;
#endif
    ThreadState ts;
    State state;
    char* stack = nullptr;
};

// One host thread's view of the block it is running.
struct BlockRun {
    const Kernel* kernel = nullptr;
    void** args = nullptr;
    std::vector<Fiber> fibers;
#if defined(__x86_64__)
    void* scheduler = nullptr;
#else
    ucontext_t scheduler;
#endif
    Fiber* running = nullptr;
    bool fibered = false;
    std::vector<unsigned char> dynamicShared;
    std::vector<uint64_t> exchange;        // warp exchange slots, one per thread
    std::vector<float> mmaSlots;           // mma operands, 12 per thread
    std::vector<float> warpResults;        // warp reductions, one per thread
    std::string error;
    ~BlockRun() {
        for (Fiber& f : fibers) free(f.stack);
    }
};

thread_local BlockRun* run = nullptr;

void fiber_main() {
    BlockRun* r = run;
    Fiber* f = r->running;
    try {
        r->kernel->invoke(r->kernel->fn, r->args);
    } catch (const LaunchError& e) {
        if (r->error.empty()) r->error = e.what();
    }
    f->state = State::Done;
#if defined(__x86_64__)
    graft_emu_switch(&f->sp, r->scheduler);  // never resumed
    abort();
#endif
    // with ucontext, returning resumes uc_link, the scheduler
}

// Switches from the scheduler to fiber f, or from the running fiber back to the scheduler.
inline void enter(BlockRun& r, Fiber& f) {
#if defined(__x86_64__)
    graft_emu_switch(&r.scheduler, f.sp);
#else
    swapcontext(&r.scheduler, &f.context);
#endif
}

inline void leave(BlockRun& r, Fiber& f) {
#if defined(__x86_64__)
    graft_emu_switch(&f.sp, r.scheduler);
#else
    swapcontext(&f.context, &r.scheduler);
#endif
}

void run_block(BlockRun& r, dim3 block, dim3 grid, dim3 blockIndex) {
    unsigned threads = block.x * block.y * block.z;
    if (!r.fibered) {
        ThreadState ts{};
        ts.bdim = block;
        ts.gdim = grid;
        ts.bid = blockIndex;
        for (unsigned t = 0; t < threads; t++) {
            ts.tid = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            current = &ts;
            r.kernel->invoke(r.kernel->fn, r.args);
        }
        current = nullptr;
        return;
    }
    if (r.fibers.size() < threads) r.fibers.resize(threads);
    for (unsigned t = 0; t < threads; t++) {
        Fiber& f = r.fibers[t];
        if (!f.stack) {
            f.stack = static_cast<char*>(malloc(kStack));
            if (!f.stack) throw LaunchError("out of host memory for fiber stacks");
        }
        f.ts.tid = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
        f.ts.bid = blockIndex;
        f.ts.bdim = block;
        f.ts.gdim = grid;
        f.state = State::Ready;
#if defined(__x86_64__)
        // A fresh stack that graft_emu_switch "returns" into fiber_main on: the return address at a
        // 16-byte boundary (so fiber_main starts with the ABI's alignment), six zeroed callee-saved
        // registers below it, then the default MXCSR (0x1f80) and x87 control word (0x37f).
        uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + kStack) & ~uintptr_t(15);
        uint64_t* ret = reinterpret_cast<uint64_t*>(top - 16);
        ret[0] = reinterpret_cast<uint64_t>(&fiber_main);
        ret[1] = 0;
        uint64_t* sp = ret - 7;
        for (int i = 1; i < 7; i++) sp[i] = 0;
        uint32_t control[2] = {0x1f80u, 0x037fu};
        memcpy(sp, control, 8);
        f.sp = sp;
#else
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack;
        f.context.uc_stack.ss_size = kStack;
        f.context.uc_link = &r.scheduler;
        makecontext(&f.context, fiber_main, 0);
#endif
    }
    for (;;) {
        bool waiting = false;
        for (unsigned t = 0; t < threads; t++) {
            Fiber& f = r.fibers[t];
            if (f.state != State::Ready) continue;
            r.running = &f;
            current = &f.ts;
            enter(r, f);
            if (!r.error.empty()) throw LaunchError(r.error);
        }
        for (unsigned t = 0; t < threads; t++) {
            if (r.fibers[t].state == State::AtBarrier) {
                r.fibers[t].state = State::Ready;
                waiting = true;
            }
        }
        if (!waiting) break;
    }
    current = nullptr;
    r.running = nullptr;
}

unsigned default_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return std::max(1u, std::min(n == 0 ? 1u : n, 8u));
}

std::atomic<unsigned> hostThreads{default_threads()};

}  // namespace

void register_kernel(const char* name, void* fn, Invoker invoke, bool sync) {
    registry()[name] = Kernel{fn, invoke, sync};
}

void fail(const char* message) {
    throw LaunchError(message);
}

void syncthreads() {
    BlockRun* r = run;
    if (!r || !r->fibered || !r->running)
        throw LaunchError("__syncthreads() in a kernel exported with GRAFT_EXPORT_NOSYNC");
    Fiber* f = r->running;
    f->state = State::AtBarrier;
    leave(*r, *f);
}

void* dynamic_shared() {
    return run->dynamicShared.data();
}

static unsigned linear_thread() {
    const ThreadState* t = current;
    return t->tid.x + t->bdim.x * (t->tid.y + t->bdim.y * t->tid.z);
}

float shfl_xor(float v, int laneMask) {
    BlockRun* r = run;
    unsigned me = linear_thread();
    unsigned threads = current->bdim.x * current->bdim.y * current->bdim.z;
    if (r->exchange.size() < threads) r->exchange.resize(threads);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    r->exchange[me] = bits;
    syncthreads();
    unsigned other = (me & ~31u) | ((me & 31u) ^ (unsigned)laneMask);
    float out = v;
    if (other < threads) {
        uint32_t o = (uint32_t)r->exchange[other];
        memcpy(&out, &o, 4);
    }
    syncthreads();
    return out;
}

// The XOR butterfly of graft_warp_sum / graft_warp_max, computed for all 32 lanes at once after one
// exchange instead of five: the same operations in the same order per lane, so the same bits (lanes
// may differ in the last bit, as on a GPU).
static float warp_reduce(float v, bool max) {
    BlockRun* r = run;
    unsigned me = linear_thread();
    unsigned threads = current->bdim.x * current->bdim.y * current->bdim.z;
    if (r->exchange.size() < threads) r->exchange.resize(threads);
    if (r->warpResults.size() < threads) r->warpResults.resize(threads);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    r->exchange[me] = bits;
    syncthreads();
    unsigned warp0 = me & ~31u;
    if ((me & 31u) == 0) {
        float lane[32];
        for (unsigned l = 0; l < 32; l++) {
            // lanes past the block's end read their own value, as shfl_xor does
            uint32_t b = warp0 + l < threads ? (uint32_t)r->exchange[warp0 + l] : 0;
            memcpy(&lane[l], &b, 4);
        }
        for (int m = 16; m > 0; m >>= 1) {
            float next[32];
            for (unsigned l = 0; l < 32; l++) {
                unsigned o = l ^ (unsigned)m;
                float other = warp0 + o < threads ? lane[o] : lane[l];
                next[l] = max ? fmaxf(lane[l], other) : lane[l] + other;
            }
            memcpy(lane, next, sizeof lane);
        }
        for (unsigned l = 0; l < 32 && warp0 + l < threads; l++) r->warpResults[warp0 + l] = lane[l];
    }
    syncthreads();
    return r->warpResults[me];
}

float warp_sum(float v) {
    return warp_reduce(v, false);
}

float warp_max(float v) {
    return warp_reduce(v, true);
}

uint32_t to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;  // Inf and NaN unchanged
    // Keep 10 mantissa bits; round to nearest, ties away from zero (cvt.rna).
    u += 0x1000u;
    return u & 0xffffe000u;
}

void mma_tf32_m16n8k8(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    BlockRun* r = run;
    unsigned me = linear_thread();
    unsigned threads = current->bdim.x * current->bdim.y * current->bdim.z;
    if (r->mmaSlots.size() < threads * 12) r->mmaSlots.resize(threads * 12);
    float* mine = &r->mmaSlots[me * 12];
    for (int i = 0; i < 4; i++) memcpy(&mine[i], &a[i], 4);
    for (int i = 0; i < 2; i++) memcpy(&mine[4 + i], &b[i], 4);
    for (int i = 0; i < 4; i++) mine[6 + i] = c[i];
    syncthreads();
    // Rebuild the warp's A (16x8), B (8x8) and C from the fragments, in PTX's layout.
    unsigned warp0 = me & ~31u;
    float A[16][8], B[8][8];
    for (unsigned lane = 0; lane < 32; lane++) {
        const float* s = &r->mmaSlots[(warp0 + lane) * 12];
        unsigned g = lane >> 2, t = lane & 3;
        A[g][t] = s[0];
        A[g + 8][t] = s[1];
        A[g][t + 4] = s[2];
        A[g + 8][t + 4] = s[3];
        B[t][g] = s[4];
        B[t + 4][g] = s[5];
    }
    unsigned lane = me & 31u, g = lane >> 2, t = lane & 3;
    float out[4];
    for (int i = 0; i < 4; i++) {
        unsigned row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
        float acc = mine[6 + i];
        for (int k = 0; k < 8; k++) acc += A[row][k] * B[k][col];  // TF32 inputs: exact products in float
        out[i] = acc;
    }
    syncthreads();
    for (int i = 0; i < 4; i++) d[i] = out[i];
}

}  // namespace graft_emu

using namespace graft_emu;

extern "C" {

int graft_emu_has(const char* kernel) {
    return registry().count(kernel) ? 1 : 0;
}

int graft_emu_kernels(char* out, int capacity) {
    std::string all;
    for (auto& e : registry()) {
        if (!all.empty()) all += ' ';
        all += e.first;
    }
    if (out && capacity > 0) {
        snprintf(out, (size_t)capacity, "%s", all.c_str());
    }
    return (int)all.size() + 1;
}

void graft_emu_set_threads(int n) {
    hostThreads = (unsigned)std::max(1, n);
}

int graft_emu_launch(const char* name, const unsigned grid[3], const unsigned block[3], unsigned dynamicSharedBytes,
                     void** args, char* error, int errorCapacity) {
    auto report = [&](const std::string& message) {
        if (error && errorCapacity > 0) snprintf(error, (size_t)errorCapacity, "%s", message.c_str());
        return 1;
    };
    auto it = registry().find(name);
    if (it == registry().end()) return report(std::string("no kernel named ") + name + " in the emulation library");
    const Kernel* kernel = &it->second;
    dim3 g{grid[0], grid[1], grid[2]}, b{block[0], block[1], block[2]};
    unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    if (threads == 0 || threads > 1024 || g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535)
        return report("invalid launch configuration for " + std::string(name) + ": grid (" + std::to_string(g.x) + "," +
                      std::to_string(g.y) + "," + std::to_string(g.z) + ") block (" + std::to_string(b.x) + "," +
                      std::to_string(b.y) + "," + std::to_string(b.z) + ")");
    if (dynamicSharedBytes > 228 * 1024) return report("dynamic shared memory above 228 KiB for " + std::string(name));
    unsigned long long blocks = (unsigned long long)g.x * g.y * g.z;
    unsigned workers = (unsigned)std::min<unsigned long long>(hostThreads.load(), blocks);
    std::atomic<unsigned long long> next{0};
    std::mutex errorLock;
    std::string firstError;
    auto work = [&]() {
        BlockRun r;
        r.kernel = kernel;
        r.args = args;
        r.fibered = kernel->sync;
        r.dynamicShared.assign(dynamicSharedBytes, 0);
        run = &r;
        try {
            for (;;) {
                unsigned long long i = next.fetch_add(1);
                if (i >= blocks) break;
                dim3 bi{(unsigned)(i % g.x), (unsigned)((i / g.x) % g.y), (unsigned)(i / ((unsigned long long)g.x * g.y))};
                run_block(r, b, g, bi);
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(errorLock);
            if (firstError.empty()) firstError = e.what();
            next = blocks;
        }
        run = nullptr;
        current = nullptr;
    };
    if (workers <= 1) {
        work();
    } else {
        std::vector<std::thread> pool;
        for (unsigned w = 0; w < workers; w++) pool.emplace_back(work);
        for (auto& t : pool) t.join();
    }
    if (!firstError.empty()) return report(std::string(name) + ": " + firstError);
    return 0;
}

}  // extern "C"
