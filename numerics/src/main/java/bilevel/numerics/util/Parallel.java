package bilevel.numerics.util;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Data-parallel loops for the Java-side kernels (im2col, col2im, elementwise maps), on a small shared
 * pool of daemon threads. {@code ForkJoinPool.commonPool()} has parallelism 1 on a 2-core machine, so
 * it is not used.
 *
 * <p>The number of chunks is {@link #threads()} = {@code -Dbilevel.threads} if set, else the number
 * of available processors. The caller runs the first chunk itself and the pool runs the others, so
 * the pool has {@code threads() − 1} threads and Java-side work never uses more than
 * {@code threads()} cores per caller. ND4J's own OpenMP threads (OMP_NUM_THREADS) are idle while these
 * loops run (the loops are never interleaved with native calls), so the two do not oversubscribe.
 * A loop started from inside a pool thread runs serially (no nested waiting, no deadlock).
 */
public final class Parallel {

    /** The body of a loop over a range of indices, called once per chunk [from, to). */
    @FunctionalInterface
    public interface Chunk {
        /**
         * @param chunk chunk index in [0, {@link #threads()}), for per-chunk scratch buffers
         * @param from  first index (inclusive)
         * @param to    last index (exclusive)
         */
        void run(int chunk, int from, int to);
    }

    private static final int THREADS = Math.max(1,
            Integer.getInteger("bilevel.threads", Runtime.getRuntime().availableProcessors()));

    private static final ThreadLocal<Boolean> IN_POOL = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private static final ExecutorService POOL = THREADS <= 1 ? null : Executors.newFixedThreadPool(THREADS - 1, r -> {
        Thread t = new Thread(() -> {
            IN_POOL.set(Boolean.TRUE);
            r.run();
        }, "bilevel-parallel");
        t.setDaemon(true);
        return t;
    });

    private Parallel() {
    }

    /** The number of chunks a loop is split into (and the size of per-chunk scratch arrays). */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs body over [0, n) split into at most {@link #threads()} contiguous chunks of at least
     * {@code minPerChunk} indices, concurrently, and returns when all are done. Exceptions thrown by a
     * chunk are rethrown (wrapped in a RuntimeException if checked).
     */
    public static void forRange(int n, int minPerChunk, Chunk body) {
        int chunks = Math.min(THREADS, Math.max(1, n / Math.max(1, minPerChunk)));
        if (chunks <= 1 || POOL == null || IN_POOL.get()) {
            if (n > 0) {
                body.run(0, 0, n);
            }
            return;
        }
        @SuppressWarnings("unchecked")
        Future<?>[] futures = new Future<?>[chunks];
        for (int c = 1; c < chunks; c++) {
            final int chunk = c;
            final int from = (int) ((long) n * c / chunks);
            final int to = (int) ((long) n * (c + 1) / chunks);
            futures[c] = POOL.submit(() -> body.run(chunk, from, to));
        }
        RuntimeException failure = null;
        try {
            body.run(0, 0, (int) ((long) n / chunks));
        } catch (RuntimeException e) {
            failure = e;
        }
        for (int c = 1; c < chunks; c++) {
            try {
                futures[c].get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = new IllegalStateException("interrupted while waiting for a parallel chunk", e);
                }
            } catch (ExecutionException e) {
                if (failure == null) {
                    Throwable cause = e.getCause();
                    failure = cause instanceof RuntimeException re ? re : new IllegalStateException(cause);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
