package io.squashproxy.core.layer;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads that compress gzip blocks ({@link ParallelGzipOutputStream}) and how many of them there are. One
 * pool shared by every squash of a process is best: concurrent squashes then share the cores rather than
 * each starting its own threads. The output does not depend on the pool (see ParallelGzipOutputStream).
 *
 * @param executor runs the block compressions; its threads must never write to a compressing stream
 * @param threads how many blocks it compresses at once (used to bound the blocks in flight per stream)
 */
public record CompressionPool(Executor executor, int threads) {

  public CompressionPool {
    if (executor == null) {
      throw new IllegalArgumentException("executor is required");
    }
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1");
    }
  }

  /** The process-wide default: daemon threads, one per core, started on first use. */
  public static CompressionPool shared() {
    return Shared.POOL;
  }

  /**
   * A new pool of {@code threads} daemon threads (idle threads are never a leak: daemons do not hold the JVM
   * open). For tests and for callers that want a separate budget; shut the executor down when done.
   */
  public static CompressionPool newFixed(int threads, String name) {
    AtomicInteger n = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    return new CompressionPool(pool, threads);
  }

  /**
   * Blocks a stream may have queued or compressing at once: enough to keep every thread busy while the writing
   * thread is descheduled for a while (shared machines), about 2.5 MiB per stream on 2 cores.
   */
  public int maxInFlight() {
    return 4 * threads + 2;
  }

  private static final class Shared {
    static final CompressionPool POOL = newFixed(Runtime.getRuntime().availableProcessors(), "squash-gzip");
  }
}
