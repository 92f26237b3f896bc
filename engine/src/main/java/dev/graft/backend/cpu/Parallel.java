package dev.graft.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One fixed pool of daemon threads shared by the CPU kernels, sized to the core count (system
 * property {@code graft.threads} or {@link #setThreads}). The calling thread takes part in every
 * parallel loop, so the pool holds {@code threads - 1} workers. Loops started from inside a
 * parallel loop run inline (no nested parallelism), and so does a loop started while another
 * thread's loop is using the pool.
 *
 * <p>Workers spin briefly for the next loop before parking: kernels come in quick succession and
 * a park/unpark round trip costs tens of microseconds.
 *
 * <p>Kernels must produce identical results whatever the thread count: a body may only write
 * elements that belong to its index range, and reductions must not be split by thread.
 */
public final class Parallel {
    private Parallel() {}

    /** A loop body over the half-open index range [start, end). */
    @FunctionalInterface
    public interface IntRangeBody {
        void run(int start, int end);
    }

    /** A task indexed by chunk number. */
    @FunctionalInterface
    public interface ChunkBody {
        void run(int chunk);
    }

    /** True on pool threads and on a caller while it runs its share of a loop. */
    private static final ThreadLocal<Boolean> IN_LOOP = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private static volatile int threads = defaultThreads();
    private static Pool pool;

    private static int defaultThreads() {
        String p = System.getProperty("graft.threads");
        if (p != null && !p.isBlank()) {
            try {
                int n = Integer.parseInt(p.trim());
                if (n >= 1) return n;
            } catch (NumberFormatException e) {
                // ignore a malformed property and use the core count
            }
        }
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    /** The number of threads parallel loops use (the caller included). */
    public static int threads() {
        return threads;
    }

    /** Sets the number of threads (at least 1); the old workers exit once idle. */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("thread count must be >= 1, got " + n);
        if (n == threads) return;
        threads = n;
        if (pool != null) {
            pool.shutdown();
            pool = null;
        }
    }

    private static synchronized Pool pool() {
        if (pool == null) pool = new Pool(threads - 1);
        return pool;
    }

    /** True when a loop started now could run on more than one thread. */
    public static boolean canSplit() {
        return threads > 1 && !IN_LOOP.get();
    }

    /**
     * Runs {@code body} over [start, end) split into at most {@link #threads()} contiguous chunks of at
     * least {@code grain} indices each; inline when only one chunk results. Exceptions propagate.
     */
    public static void forRange(int start, int end, int grain, IntRangeBody body) {
        int n = end - start;
        if (n <= 0) return;
        int chunks = chunkCount(n, grain);
        if (chunks <= 1) {
            body.run(start, end);
            return;
        }
        run(chunks, c -> {
            int s = start + (int) ((long) n * c / chunks);
            int e = start + (int) ((long) n * (c + 1) / chunks);
            if (s < e) body.run(s, e);
        });
    }

    /** How many chunks {@link #forRange} would use for n indices with this grain. */
    public static int chunkCount(int n, int grain) {
        if (!canSplit()) return 1;
        long byGrain = Math.max(1, n / (long) Math.max(1, grain));
        return (int) Math.min(Math.min(threads, byGrain), n);
    }

    /**
     * Runs body(0) … body(chunks − 1) on the pool and the calling thread together (any thread may
     * take any chunk) and returns when all are done; the first exception is rethrown.
     */
    public static void run(int chunks, ChunkBody body) {
        if (chunks <= 0) return;
        Pool p = chunks > 1 && canSplit() ? pool() : null;
        if (p == null || !p.lock.tryLock()) {
            runInline(chunks, body);
            return;
        }
        try {
            p.execute(chunks, body);
        } finally {
            p.lock.unlock();
        }
    }

    private static void runInline(int chunks, ChunkBody body) {
        boolean outer = !IN_LOOP.get();
        if (outer) IN_LOOP.set(Boolean.TRUE);
        try {
            for (int c = 0; c < chunks; c++) body.run(c);
        } finally {
            if (outer) IN_LOOP.set(Boolean.FALSE);
        }
    }

    /** One loop in flight: chunks are claimed from {@code next}; {@code done} counts finished ones. */
    private static final class Job {
        final long id;
        final int chunks;
        final ChunkBody body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(long id, int chunks, ChunkBody body) {
            this.id = id;
            this.chunks = chunks;
            this.body = body;
        }

        /** Claims and runs chunks until none are left. */
        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    body.run(c);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private static final class Pool {
        /** How long an idle worker spins for the next loop before parking. */
        private static final long SPIN_NANOS = 100_000;

        final ReentrantLock lock = new ReentrantLock();
        private final Worker[] workers;
        private final AtomicLong ids = new AtomicLong();
        private volatile Job current;
        private volatile boolean shutdown;

        Pool(int size) {
            workers = new Worker[size];
            for (int i = 0; i < size; i++) {
                workers[i] = new Worker(i);
                workers[i].start();
            }
        }

        void execute(int chunks, ChunkBody body) {
            Job job = new Job(ids.incrementAndGet(), chunks, body);
            current = job;
            for (Worker w : workers) if (w.parked) LockSupport.unpark(w);
            IN_LOOP.set(Boolean.TRUE);
            try {
                job.work();
            } finally {
                IN_LOOP.set(Boolean.FALSE);
            }
            // Wait for chunks other threads claimed: spin first, then sleep in short slices.
            long start = System.nanoTime();
            while (job.done.get() < chunks) {
                if (System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
                else LockSupport.parkNanos(20_000);
            }
            current = null;
            Throwable t = job.failure;
            if (t instanceof RuntimeException re) throw re;
            if (t instanceof Error er) throw er;
            if (t != null) throw new RuntimeException(t);
        }

        void shutdown() {
            shutdown = true;
            for (Worker w : workers) LockSupport.unpark(w);
        }

        private final class Worker extends Thread {
            volatile boolean parked;

            Worker(int index) {
                super("graft-cpu-" + index);
                setDaemon(true);
            }

            @Override
            public void run() {
                IN_LOOP.set(Boolean.TRUE);
                long seen = 0;
                while (!shutdown) {
                    Job job = current;
                    if (job != null && job.id != seen) {
                        seen = job.id;
                        job.work();
                        continue;
                    }
                    long start = System.nanoTime();
                    while (!shutdown && ((job = current) == null || job.id == seen)) {
                        if (System.nanoTime() - start < SPIN_NANOS) {
                            Thread.onSpinWait();
                        } else {
                            parked = true;
                            // Re-check after announcing: execute() writes current, then reads parked.
                            job = current;
                            if (!shutdown && (job == null || job.id == seen)) LockSupport.park(this);
                            parked = false;
                            start = System.nanoTime();
                        }
                    }
                }
            }
        }
    }
}
