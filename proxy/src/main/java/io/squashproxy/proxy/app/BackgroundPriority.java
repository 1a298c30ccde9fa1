package io.squashproxy.proxy.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lowers the CPU priority of the calling thread (Linux nice {@value #NICE}), for squash workers: a squash is
 * CPU-bound (decompressing, indexing and compressing every layer) and, with the shipped {@code wait: 0s}, no
 * client waits for it, while pulls in progress (this proxy's downloads and sends, and the clients on the same
 * node) do. At nice 10 a squash gets about a tenth of a contended core and all of an idle one.
 *
 * <p>Linux's nice is per thread and inherited by threads a thread starts, so the threads a squash starts (layer
 * readers, compressors) run at the worker's priority too. Java has no call for it; the thread's id is read from
 * {@code /proc/thread-self/stat} and {@code renice} applies it. Elsewhere, or when that fails, threads keep the
 * normal priority (logged once, at DEBUG: nothing is wrong, squashes only compete equally).
 */
final class BackgroundPriority {
  private static final Logger LOG = LoggerFactory.getLogger(BackgroundPriority.class);
  static final int NICE = 10;
  private static volatile boolean unavailable;

  private BackgroundPriority() {}

  /** Wraps a pool thread's work so the thread lowers its own priority before the first task. */
  static Runnable lowered(Runnable work) {
    return () -> {
      lowerCurrentThread();
      work.run();
    };
  }

  /** @return whether the calling thread now runs at nice {@value #NICE} */
  static boolean lowerCurrentThread() {
    if (unavailable) {
      return false;
    }
    try {
      String stat = Files.readString(Path.of("/proc/thread-self/stat"), StandardCharsets.US_ASCII);
      String tid = stat.substring(0, stat.indexOf(' '));
      Process p = new ProcessBuilder("renice", "-n", Integer.toString(NICE), "-p", tid)
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0) {
        return true;
      }
      p.destroyForcibly();
      throw new IOException("renice exited " + (p.isAlive() ? "late" : p.exitValue()));
    } catch (IOException | RuntimeException e) {
      unavailable = true;
      LOG.debug("squash workers keep the normal CPU priority: {}", e.toString());
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
