package io.squashproxy.core.squash;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** The few threads a squash reads layers on besides its own (decompressing is the cost of reading). */
final class SpoolThreads {
  /** Layers read at once: with the squash's own thread and the compressors, enough for the cores we have. */
  static final int THREADS = 2;
  private static final AtomicInteger IDS = new AtomicInteger();

  private SpoolThreads() {}

  static ExecutorService start(int threads) {
    return Executors.newFixedThreadPool(Math.max(1, threads), r -> {
      Thread t = new Thread(r, "squash-spool-" + IDS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** Stops the threads (on failure, mid-layer) and waits for them, so that no file is still open. */
  static void stop(ExecutorService threads) {
    threads.shutdownNow();
    try {
      threads.awaitTermination(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
