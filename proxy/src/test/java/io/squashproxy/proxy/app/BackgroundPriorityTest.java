package io.squashproxy.proxy.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Squash workers run at nice 10, and so do the threads they start; the threads that serve do not. */
class BackgroundPriorityTest {

  @Test
  void aLoweredThreadAndTheThreadsItStartsRunAtNiceTen() throws Exception {
    assumeTrue(Files.exists(Path.of("/proc/thread-self/stat")) || "true".equals(System.getenv("CI")),
        "Linux only");
    int before = niceOfCurrentThread();
    AtomicInteger lowered = new AtomicInteger(-100);
    AtomicInteger child = new AtomicInteger(-100);
    Thread worker = new Thread(BackgroundPriority.lowered(() -> {
      lowered.set(niceOrFail());
      Thread started = new Thread(() -> child.set(niceOrFail()));
      started.start();
      try {
        started.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    worker.start();
    worker.join();
    assertEquals(Math.max(before, BackgroundPriority.NICE), lowered.get(), "the worker's nice");
    assertEquals(lowered.get(), child.get(), "a thread the worker started inherits its nice");
    assertEquals(before, niceOfCurrentThread(), "the calling thread keeps its priority");
    assertTrue(before < BackgroundPriority.NICE, "the test runs at normal priority");
  }

  private static int niceOrFail() {
    try {
      return niceOfCurrentThread();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Field 19 of {@code stat}, counted after the command name (which may hold spaces) closes. */
  static int niceOfCurrentThread() throws IOException {
    String stat = Files.readString(Path.of("/proc/thread-self/stat"));
    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Integer.parseInt(fields[19 - 3]);
  }
}
