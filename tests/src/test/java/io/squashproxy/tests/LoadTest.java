package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.LoadRun;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The suite's small version of the load benchmark ({@code bench/LoadBenchmark}): 40 clients for 8 s against
 * the proxy process (paranoid leak detection) and a real Distribution registry, warm images and two cold
 * ones. Zero failed requests; heap after GC and Netty direct memory no higher at the end than a third of the
 * way in (plus a margin); no leak report in the proxy's log; no client connection or cache file left open.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LoadTest {
  static final long MIB = 1 << 20;

  @Test
  void fortyClientsPullWithoutFailuresLeaksOrGrowth() throws Exception {
    LoadRun.Result r = LoadRun.run(new LoadRun.Settings(40, 8, 4, 2, 256));
    System.out.printf("LoadTest: %d requests in %.1f s (%.0f/s), %d failed, p50 %d us, p99 %d us; heap after GC "
            + "%d -> %d -> %d KiB; direct %d -> %d -> %d KiB; fds %s -> %s; %d leak reports; %d squashes%n",
        r.requests(), r.seconds(), r.requestsPerSecond(), r.failures(), r.p50Micros(), r.p99Micros(),
        r.heapAfterGcBefore() / 1024, r.heapAfterGcReference() / 1024, r.heapAfterGcAfter() / 1024,
        r.directBefore() / 1024, r.directReference() / 1024, r.directAfter() / 1024, r.fdsBefore(), r.fdsAfter(),
        r.leakReports(), r.squashes());
    assertEquals(0, r.failures(), "failed requests: " + r.firstFailures());
    assertTrue(r.requests() > 200, "only " + r.requests() + " requests");
    assertEquals(2, r.coldPulled(), "cold images pulled during the run");
    assertEquals(4 + 2, r.squashes(), "one squash per image, cold ones included");
    assertEquals(0, r.leakReports(), "Netty LEAK reports in the proxy log");
    assertTrue(r.heapAfterGcAfter() <= r.heapAfterGcReference() + 16 * MIB,
        "heap after GC grew: " + r.heapAfterGcReference() + " -> " + r.heapAfterGcAfter());
    assertTrue(r.directAfter() <= r.directReference() + 16 * MIB,
        "direct memory grew: " + r.directReference() + " -> " + r.directAfter());
    assertEquals(0, r.fdsAfter().connections(), "client connections still open: " + r.fdsAfter());
    assertTrue(r.fdsAfter().cacheFiles() <= r.fdsBefore().cacheFiles(), "cache files left open: " + r.fdsBefore()
        + " -> " + r.fdsAfter());
    assertEquals(0, r.reconnects(), "keep-alive connections dropped by the proxy");
  }
}
